package cli

import (
	"errors"
	"flag"
	"os"

	v2beta1 "github.com/broker-ops/emqx-operator/api/v2beta1"
	"github.com/broker-ops/emqx-operator/internal/backup"
)

// StorageOptions is where archives are: a directory (a mounted PVC) or an S3 bucket whose
// credentials come from the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), as the Jobs
// get them from the user's Secret.
type StorageOptions struct {
	Dir string
	S3  backup.S3Config
}

func (s *StorageOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&s.Dir, "dir", "", "directory the archives are in (a mounted PVC)")
	fs.StringVar(&s.S3.Endpoint, "s3-endpoint", "", "S3-compatible store, scheme and host (instead of --dir)")
	fs.StringVar(&s.S3.Bucket, "s3-bucket", "", "S3 bucket")
	fs.StringVar(&s.S3.Prefix, "s3-prefix", "", "prefix of the archives' object keys")
	fs.StringVar(&s.S3.Region, "s3-region", "", "S3 region (default us-east-1)")
}

var errNoStorage = errors.New("give either --dir or --s3-endpoint with --s3-bucket")

// given reports whether the flags name exactly one storage (a usage check: nothing is opened).
func (s StorageOptions) given() bool {
	if s.Dir != "" {
		return s.S3.Endpoint == ""
	}
	return s.S3.Endpoint != "" && s.S3.Bucket != ""
}

// store opens the storage the flags name.
func (s StorageOptions) store() (backup.Store, error) {
	switch {
	case !s.given():
		return nil, errNoStorage
	case s.Dir != "":
		return backup.DirStore{Dir: s.Dir}, nil
	default:
		c := s.S3
		c.AccessKeyID, c.SecretAccessKey = os.Getenv(v2beta1.S3AccessKeyIDKey), os.Getenv(v2beta1.S3SecretAccessKeyKey)
		return backup.NewS3Store(c)
	}
}
