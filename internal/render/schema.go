package render

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"helm.sh/helm/v3/pkg/chartutil"
)

// schemaURL names the chart's schema inside the compiler; nothing is fetched from it.
const schemaURL = "file:///values.schema.json"

// compileSchema compiles a chart's values.schema.json (nil when the chart has none). The compiler
// has no loaders: the embedded schema refers to nothing outside itself, and rendering never
// reaches the network.
func compileSchema(raw []byte) (*jsonschema.Schema, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(jsonschema.SchemeURLLoader{})
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, err
	}
	return c.Compile(schemaURL)
}

// validate checks the coalesced values (the chart's defaults with the render's values over them)
// against the schema, as Helm's own validation would; like Helm's, a panic of the validator on odd
// values is an error of this render, not of the operator.
func (r *Renderer) validate(renderVals chartutil.Values) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("validating chart values against values.schema.json: %v", p)
		}
	}()
	if r.schema == nil {
		return nil
	}
	vals, err := renderVals.Table("Values")
	if err != nil {
		return fmt.Errorf("preparing chart values: %w", err)
	}
	if err := r.schema.Validate(vals.AsMap()); err != nil {
		msg := strings.TrimPrefix(err.Error(), "jsonschema validation failed with '"+schemaURL+"#'\n")
		return fmt.Errorf("values don't meet the emqx chart's values.schema.json:\n%s", msg)
	}
	return nil
}
