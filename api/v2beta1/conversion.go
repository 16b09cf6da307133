package v2beta1

// Hub marks v2beta1 as the version every other version of EMQX converts through: the one the
// controllers work on (controller-runtime's hub-and-spoke conversion).
func (*EMQX) Hub() {}

// WaitHealthCheckSeconds is how long EMQX is asked to wait, once a node is marked as evacuating,
// for load balancers to stop sending it new clients before it evicts any. v2beta1 has no field for
// it; v2 does (spec.updateStrategy.evacuationStrategy.waitHealthCheck), and a v2 object converted
// from v2beta1 says this value.
const WaitHealthCheckSeconds = 10
