package upgradepath

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Version is an EMQX release: major.minor.patch. A zero Version is unknown (a custom tag, a digest).
// A floating tag without a patch ("6.2") names the newest patch of its series: Patch is
// FloatingPatch, so that it compares as later than every patch release of the series.
type Version struct{ Major, Minor, Patch int }

// FloatingPatch is the Patch of a tag that names no patch.
const FloatingPatch = 1 << 30

func (v Version) Known() bool { return v != Version{} }

func (v Version) String() string {
	if !v.Known() {
		return "unknown"
	}
	if v.Patch == FloatingPatch {
		return fmt.Sprintf("%d.%d.x", v.Major, v.Minor)
	}
	return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch)
}

// Less orders releases.
func (v Version) Less(w Version) bool {
	if v.Major != w.Major {
		return v.Major < w.Major
	}
	if v.Minor != w.Minor {
		return v.Minor < w.Minor
	}
	return v.Patch < w.Patch
}

// AtLeast: v is major.minor.patch or later.
func (v Version) AtLeast(major, minor, patch int) bool {
	return !v.Less(Version{major, minor, patch})
}

// Series: v is a major.minor release (any patch).
func (v Version) Series(major, minor int) bool { return v.Major == major && v.Minor == minor }

var releasePattern = regexp.MustCompile(`^v?(\d+)\.(\d+)(?:\.(\d+))?([-+._a-zA-Z0-9]*)$`)

// Parse reads a release ("6.1.0", "v5.10", "6.1.0-alpine"); ok is false for anything else.
func Parse(s string) (Version, bool) {
	m := releasePattern.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return Version{}, false
	}
	var v Version
	v.Major, _ = strconv.Atoi(m[1])
	v.Minor, _ = strconv.Atoi(m[2])
	v.Patch = FloatingPatch
	if m[3] != "" {
		v.Patch, _ = strconv.Atoi(m[3])
	}
	return v, v.Known()
}

// OfImage is the EMQX release an image's tag names ("emqx/emqx-enterprise:6.1.0" → 6.1.0), unknown
// for a digest-only reference or a custom tag ("latest", "my-build").
func OfImage(image string) Version {
	v, _ := Parse(Tag(image))
	return v
}

// Reference is an image reference without its registry and repository path: the last path
// element with its tag and digest ("emqx-enterprise:6.1.0@sha256:…"). Two images with the same
// Reference run the same EMQX, wherever they are pulled from (a registry mirror is no change).
func Reference(image string) string {
	if i := strings.LastIndex(image, "/"); i >= 0 {
		return image[i+1:]
	}
	return image
}

// Tag is an image reference's tag ("" for none), without registry, repository or digest.
func Tag(image string) string {
	ref := image
	if i := strings.Index(ref, "@"); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.LastIndex(ref, "/"); i >= 0 {
		ref = ref[i+1:]
	}
	if i := strings.LastIndex(ref, ":"); i >= 0 {
		return ref[i+1:]
	}
	return ""
}
