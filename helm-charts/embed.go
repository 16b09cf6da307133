// Package helmcharts compiles the EMQX chart into the operator binary, so the operator never reads
// chart files from disk and the image carries nothing beside the binary.
package helmcharts

import "embed"

// EMQX holds the files of the emqx chart, rooted at "emqx/".
//
//go:embed all:emqx
var EMQX embed.FS
