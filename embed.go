package main

import _ "embed"

// watchesYAML is watches.yaml, compiled in so the image needs no files beside the binary.
//
//go:embed watches.yaml
var watchesYAML []byte
