// Package crdnames checks the names kubectl resolves for the project's CRDs. kubectl expands a
// word to every resource of a category before it looks at short names, so a category spelled like
// a kind's plural, singular or short name turns `kubectl get emqx NAME` into a lookup over several
// kinds ("you must specify only one resource"). The check runs over every copy of the CRDs the
// project ships (config, bundle, Helm chart).
package crdnames

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// Names are the names of one CRD that kubectl resolves.
type Names struct {
	Kind       string   `json:"kind"`
	Plural     string   `json:"plural"`
	Singular   string   `json:"singular"`
	ShortNames []string `json:"shortNames"`
	Categories []string `json:"categories"`
}

type crd struct {
	Kind string `json:"kind"`
	Spec struct {
		Group string `json:"group"`
		Names Names  `json:"names"`
	} `json:"spec"`
}

// Clashes lists every word that kubectl could resolve to more than one thing: a category equal to
// any kind's plural, singular or short name, and a plural, singular or short name claimed by two
// kinds. The result is sorted, one message per clash.
func Clashes(defs []Names) []string {
	owners := map[string][]string{} // lower-case word -> kinds naming a resource by it
	for _, d := range defs {
		seen := map[string]bool{}
		for _, w := range append([]string{d.Plural, d.Singular, strings.ToLower(d.Kind)}, d.ShortNames...) {
			w = strings.ToLower(w)
			if w == "" || seen[w] {
				continue
			}
			seen[w] = true
			owners[w] = append(owners[w], d.Kind)
		}
	}
	var out []string
	for w, kinds := range owners {
		if len(kinds) > 1 {
			sort.Strings(kinds)
			out = append(out, fmt.Sprintf("%q names more than one kind: %s", w, strings.Join(kinds, ", ")))
		}
	}
	categories := map[string]bool{}
	for _, d := range defs {
		for _, c := range d.Categories {
			categories[strings.ToLower(c)] = true
		}
	}
	for c := range categories {
		if kinds, ok := owners[c]; ok {
			out = append(out, fmt.Sprintf("category %q is also a name of %s: kubectl would expand it to the whole category",
				c, strings.Join(kinds, ", ")))
		}
	}
	sort.Strings(out)
	return out
}

// Load reads the names of every CustomResourceDefinition in the YAML files of dir (one document a
// file, as controller-gen and operator-sdk write them) whose group is group.
func Load(dir, group string) ([]Names, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	var out []Names
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var c crd
		if err := yaml.Unmarshal(b, &c); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		if c.Kind == "CustomResourceDefinition" && c.Spec.Group == group {
			out = append(out, c.Spec.Names)
		}
	}
	return out, nil
}
