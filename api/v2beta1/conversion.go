package v2beta1

// Hub marks v2beta1 as the version every other version of EMQX converts through: the one the
// controllers work on (controller-runtime's hub-and-spoke conversion).
func (*EMQX) Hub() {}
