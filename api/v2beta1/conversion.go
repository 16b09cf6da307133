package v2beta1

// Hub marks v2beta1 as the version every other version of EMQX converts through: the one the
// controllers work on (controller-runtime's hub-and-spoke conversion).
func (*EMQX) Hub() {}

// WaitHealthCheckSeconds is the default of spec.updateStrategy.evacuationStrategy.waitHealthCheck:
// how long EMQX is asked to wait, once a node is marked as evacuating, for load balancers to stop
// sending it new clients before it evicts any (the vendor's v2 and v3beta1 default to 60).
const WaitHealthCheckSeconds = 10
