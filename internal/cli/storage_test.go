package cli

import (
	"testing"

	"github.com/broker-ops/emqx-operator/internal/backup"
)

func TestStorageFlagsNameOneStore(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIA")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	for _, tc := range []struct {
		o    StorageOptions
		want bool
	}{
		{StorageOptions{Dir: "/backup"}, true},
		{StorageOptions{S3: backup.S3Config{Endpoint: "http://127.0.0.1:9000", Bucket: "b"}}, true},
		{StorageOptions{}, false},
		{StorageOptions{S3: backup.S3Config{Endpoint: "http://127.0.0.1:9000"}}, false},
		{StorageOptions{Dir: "/backup", S3: backup.S3Config{Endpoint: "http://127.0.0.1:9000", Bucket: "b"}}, false},
	} {
		if got := tc.o.given(); got != tc.want {
			t.Errorf("%+v: given = %v", tc.o, got)
		}
		if _, err := tc.o.store(); (err == nil) != tc.want {
			t.Errorf("%+v: store error %v", tc.o, err)
		}
	}
}
