package crdnames

import (
	"path/filepath"
	"reflect"
	"testing"
)

func TestClashes(t *testing.T) {
	emqx := Names{Kind: "EMQX", Plural: "emqxes", Singular: "emqx", ShortNames: []string{"emqx"}, Categories: []string{"emqx-all"}}
	backup := Names{Kind: "EMQXBackup", Plural: "emqxbackups", Singular: "emqxbackup", ShortNames: []string{"emqxbackup"}, Categories: []string{"emqx-all"}}
	for _, tc := range []struct {
		name string
		defs []Names
		want []string
	}{
		{"distinct names and a category of its own", []Names{emqx, backup}, nil},
		{"a category spelled like a short name (the regression of issue 14)",
			[]Names{emqx, {Kind: "EMQXRestore", Plural: "emqxrestores", Singular: "emqxrestore", Categories: []string{"emqx"}}},
			[]string{`category "emqx" is also a name of EMQX: kubectl would expand it to the whole category`}},
		{"a category spelled like a plural",
			[]Names{backup, {Kind: "X", Plural: "xs", Singular: "x", Categories: []string{"emqxbackups"}}},
			[]string{`category "emqxbackups" is also a name of EMQXBackup: kubectl would expand it to the whole category`}},
		{"one short name for two kinds",
			[]Names{{Kind: "A", Plural: "as", Singular: "a", ShortNames: []string{"z"}}, {Kind: "B", Plural: "bs", Singular: "b", ShortNames: []string{"Z"}}},
			[]string{`"z" names more than one kind: A, B`}},
		{"a short name equal to another kind's singular",
			[]Names{{Kind: "A", Plural: "as", Singular: "a", ShortNames: []string{"b"}}, {Kind: "B", Plural: "bs", Singular: "b"}},
			[]string{`"b" names more than one kind: A, B`}},
		{"a short name equal to the kind's own singular is no clash",
			[]Names{{Kind: "A", Plural: "as", Singular: "a", ShortNames: []string{"a"}}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Clashes(tc.defs); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Clashes = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestShippedCRDs: every copy of the CRDs the project ships resolves each name to one kind, and
// every kind is in the category documented for "everything EMQX" (docs/local-cluster.md).
func TestShippedCRDs(t *testing.T) {
	root := filepath.Join("..", "..")
	for _, dir := range []string{"config/crd/bases", "bundle/manifests", "helm-charts/emqx-operator/files/crds"} {
		defs, err := Load(filepath.Join(root, dir), "apps.emqx.io")
		if err != nil {
			t.Fatal(err)
		}
		if len(defs) < 6 {
			t.Fatalf("%s: %d CRDs of apps.emqx.io, want the 6 kinds", dir, len(defs))
		}
		for _, c := range Clashes(defs) {
			t.Errorf("%s: %s", dir, c)
		}
		for _, d := range defs {
			if !reflect.DeepEqual(d.Categories, []string{"emqx-all"}) {
				t.Errorf("%s: %s has categories %q, want [emqx-all]", dir, d.Kind, d.Categories)
			}
		}
	}
}
