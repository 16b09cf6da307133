package pipeline

import "time"

// Named intervals. EMQX cluster membership, a node re-reading its certificate and a backup Job's
// report are not Kubernetes objects, so no watch reports them: the reconcilers look again on these
// periods instead. Everything a watch reports wakes the reconciler at once.
const (
	// Converging is how often a cluster that is on its way (nodes joining, pods rolling) is looked
	// at: the EMQX node list is the only way to see a node join.
	Converging = 3 * time.Second
	// Joining is how often a cluster is looked at while a node whose pod is Ready has not joined
	// yet: DNS discovery joins it within seconds, and nothing else would tell. Only while that
	// lasts; pods still starting are woken by their own events.
	Joining = time.Second
	// DefaultReadyResync is how often a healthy cluster is looked at again when watches.yaml sets
	// no reconcilePeriod: it keeps status.coreNodes/replicantNodes current.
	DefaultReadyResync = 15 * time.Second
	// MissingDependency: a referenced Secret that does not exist yet is not labelled, so not
	// watched; its creation is noticed by looking again.
	MissingDependency = 10 * time.Second
	// StatusConflict: the status write met a newer object (the cache had not seen the previous
	// pass's write yet); the pass runs again shortly with the fresh object instead of writing over it.
	StatusConflict = 200 * time.Millisecond
	// Settle: a change the pass just made (a StatefulSet applied, a config accepted, workloads
	// adopted) shows in the cache only after the watch delivers it; looked at again shortly.
	Settle = 200 * time.Millisecond
	// ObjectReleased: an object deleted to be created again (an immutable field changed) waits for
	// the garbage collector to orphan its dependents; its deletion wakes the reconciler, this is the
	// fallback.
	ObjectReleased = time.Second
	// ArchiveRetry: a backup or restore that cannot start yet (its cluster not Ready, no API key)
	// is tried again on this period.
	ArchiveRetry = 10 * time.Second
	// ArchiveDeleteRetry: deleting a backup's archive that failed is tried again on this period;
	// the finalizer holds the EMQXBackup meanwhile.
	ArchiveDeleteRetry = time.Minute
)
