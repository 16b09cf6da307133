package v1beta2

// Condition types of the v1beta2 API.
const (
	// ConditionCreating is true from creation until every node first ran.
	ConditionCreating = "Creating"
	// ConditionRunning is true while every wanted node's pod is Ready and its node runs in the cluster.
	ConditionRunning = "Running"
	// ConditionHealthy is true while the management API answers and every node reports Running.
	ConditionHealthy = "Healthy"
	// ConditionScaling is true while the number of nodes moves towards spec.replicas.
	ConditionScaling = "Scaling"
	// ConditionScalingDown is true while nodes are being removed.
	ConditionScalingDown = "ScalingDown"
	// ConditionUpdating is true while pods are replaced with a new pod template.
	ConditionUpdating = "Updating"
	// ConditionUpgrading is true while pods are replaced with a new image.
	ConditionUpgrading = "Upgrading"
	// ConditionFailed is true when the spec or something it references cannot be used (the reason
	// says what), or EMQX refused the licence.
	ConditionFailed = "Failed"
)
