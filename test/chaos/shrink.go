package chaos

// Shrink looks for a shorter list of steps that still fails, by delta debugging (Zeller's ddmin):
// it drops chunks of the list, halving the chunk size whenever no chunk can go, until single steps
// cannot be dropped or the replays run out. fails replays a list on fresh clusters and says whether
// an invariant broke; each replay takes minutes, so budget caps how many it may take. It returns
// the shortest failing list found (steps itself when nothing shorter fails) and the replays used.
func Shrink(steps []Step, fails func([]Step) bool, budget int) ([]Step, int) {
	current := steps
	used := 0
	chunks := 2
	for len(current) > 1 && used < budget {
		size := (len(current) + chunks - 1) / chunks
		dropped := false
		for start := 0; start < len(current) && used < budget; start += size {
			end := min(start+size, len(current))
			candidate := append(append([]Step{}, current[:start]...), current[end:]...)
			used++
			if fails(candidate) {
				current, dropped = candidate, true
				chunks = max(chunks-1, 2)
				break
			}
		}
		if dropped {
			continue
		}
		if size == 1 {
			break // no single step can go: this list is 1-minimal
		}
		chunks = min(chunks*2, len(current))
	}
	return current, used
}
