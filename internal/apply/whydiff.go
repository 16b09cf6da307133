package apply

import "fmt"

// whyNot explains the first difference contains finds, as a path ("" when there is none).
func whyNot(have, want any, path string) string {
	if isZero(want) {
		return ""
	}
	switch w := want.(type) {
	case map[string]any:
		h, ok := have.(map[string]any)
		if !ok {
			return path + ": not a map in live"
		}
		for k, wv := range w {
			hv, present := h[k]
			if !present {
				if isZero(wv) {
					continue
				}
				return path + "." + k + ": missing in live"
			}
			if r := whyNot(hv, wv, path+"."+k); r != "" {
				return r
			}
		}
		return ""
	case []any:
		h, ok := have.([]any)
		if !ok || len(h) != len(w) {
			return fmt.Sprintf("%s: list length %d vs %d", path, len(w), len(h))
		}
		for i := range w {
			if r := whyNot(h[i], w[i], fmt.Sprintf("%s[%d]", path, i)); r != "" {
				return r
			}
		}
		return ""
	default:
		if !scalarEqual(have, want) {
			return fmt.Sprintf("%s: %v (%T) vs live %v (%T)", path, want, want, have, have)
		}
		return ""
	}
}
