package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Config is an S3-compatible bucket and the credentials to use it.
type S3Config struct {
	// Endpoint is the store's URL (scheme and host): https://s3.amazonaws.com, http://127.0.0.1:9000.
	Endpoint, Bucket, Prefix, Region string
	AccessKeyID, SecretAccessKey     string
}

// S3Store keeps archives as objects <prefix><name> in a bucket, each with a <name>.sha256 object
// beside it (sha256sum format, like DirStore's). An object only appears once its upload
// completes, and the upload completes only after the download's size was checked, so a failed
// backup never leaves an archive that looks good.
type S3Store struct {
	client         *minio.Client
	bucket, prefix string
}

// NewS3Store connects to the bucket (nothing is sent until the first call).
func NewS3Store(c S3Config) (*S3Store, error) {
	u, err := url.Parse(c.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.Trim(u.Path, "/") != "" {
		return nil, fmt.Errorf("S3 endpoint %q: want scheme and host only, e.g. https://s3.amazonaws.com", c.Endpoint)
	}
	if c.AccessKeyID == "" || c.SecretAccessKey == "" {
		return nil, errors.New("S3 credentials missing (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")
	}
	region := c.Region
	if region == "" {
		region = "us-east-1"
	}
	client, err := minio.New(u.Host, &minio.Options{
		Creds:  credentials.NewStaticV4(c.AccessKeyID, c.SecretAccessKey, ""),
		Secure: u.Scheme == "https",
		Region: region,
		// A store that does not answer fails the backup in seconds, not after minutes of retries.
		MaxRetries: 2,
	})
	if err != nil {
		return nil, err
	}
	return &S3Store{client: client, bucket: c.Bucket, prefix: c.Prefix}, nil
}

func (s *S3Store) key(name string) string { return s.prefix + name }

// Location is the archive's URL-like name: s3://<bucket>/<prefix><name>.
func (s *S3Store) Location(name string) string { return "s3://" + s.bucket + "/" + s.key(name) }

// Check implements Store: the bucket exists and the credentials are accepted.
func (s *S3Store) Check(ctx context.Context) error {
	ok, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return s3Error(err, "bucket "+s.bucket)
	}
	if !ok {
		return fmt.Errorf("bucket %s does not exist (the backup never creates one)", s.bucket)
	}
	return nil
}

// Begin implements Store: the upload streams while the archive downloads.
func (s *S3Store) Begin(ctx context.Context, name string) (Upload, error) {
	if err := safeName(name); err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	u := &s3Upload{s: s, name: name, pw: pw, done: make(chan error, 1)}
	go func() {
		_, err := s.client.PutObject(ctx, s.bucket, s.key(name), pr, -1, minio.PutObjectOptions{ContentType: "application/gzip"})
		// An upload that stops early (refused, store gone) must fail the writer too, not block it.
		closed := err
		if closed == nil {
			closed = errUploadClosed
		}
		_ = pr.CloseWithError(closed)
		u.done <- err
	}()
	return u, nil
}

var errUploadClosed = errors.New("upload closed")

// Verify implements Store.
func (s *S3Store) Verify(ctx context.Context, name string, size int64, sha string) error {
	obj, err := s.client.GetObject(ctx, s.bucket, s.key(name), minio.GetObjectOptions{})
	if err != nil {
		return s3Error(err, s.Location(name))
	}
	defer obj.Close() //nolint:errcheck // read-only
	if err := verifyStream(obj, size, sha); err != nil {
		return s3Error(err, s.Location(name))
	}
	return nil
}

// Open implements Store.
func (s *S3Store) Open(ctx context.Context, name string) (io.ReadCloser, string, error) {
	if err := safeName(name); err != nil {
		return nil, "", err
	}
	// Stat first: GetObject is lazy and would report a missing archive only on the first read.
	if _, err := s.client.StatObject(ctx, s.bucket, s.key(name), minio.StatObjectOptions{}); err != nil {
		return nil, "", s3Error(err, s.Location(name))
	}
	sha := ""
	if sum, err := s.client.GetObject(ctx, s.bucket, s.key(name)+".sha256", minio.GetObjectOptions{}); err == nil {
		b, rerr := io.ReadAll(io.LimitReader(sum, 4096))
		_ = sum.Close()
		if rerr == nil {
			sha = parseSHA256File(b)
		} else if minio.ToErrorResponse(rerr).Code != "NoSuchKey" {
			return nil, "", s3Error(rerr, s.Location(name)+".sha256")
		}
	}
	obj, err := s.client.GetObject(ctx, s.bucket, s.key(name), minio.GetObjectOptions{})
	if err != nil {
		return nil, "", s3Error(err, s.Location(name))
	}
	return obj, sha, nil
}

// Delete implements Store (S3 deletes of a missing key succeed).
func (s *S3Store) Delete(ctx context.Context, name string) error {
	if err := safeName(name); err != nil {
		return err
	}
	for _, k := range []string{s.key(name), s.key(name) + ".sha256"} {
		if err := s.client.RemoveObject(ctx, s.bucket, k, minio.RemoveObjectOptions{}); err != nil {
			return s3Error(err, "s3://"+s.bucket+"/"+k)
		}
	}
	return nil
}

type s3Upload struct {
	s    *S3Store
	name string
	pw   *io.PipeWriter
	done chan error
	// ended: the upload goroutine has returned (its result read from done).
	ended bool
}

func (u *s3Upload) Write(p []byte) (int, error) { return u.pw.Write(p) }

func (u *s3Upload) wait() error {
	if u.ended {
		return nil
	}
	u.ended = true
	return <-u.done
}

// Commit ends the stream, so the object appears, then stores the checksum beside it.
func (u *s3Upload) Commit(ctx context.Context, sha string) (string, error) {
	_ = u.pw.Close()
	if err := u.wait(); err != nil {
		return "", s3Error(err, u.s.Location(u.name))
	}
	line := sha256Line(sha, u.name)
	if _, err := u.s.client.PutObject(ctx, u.s.bucket, u.s.key(u.name)+".sha256", bytes.NewReader(line), int64(len(line)),
		minio.PutObjectOptions{ContentType: "text/plain"}); err != nil {
		return "", s3Error(err, u.s.Location(u.name)+".sha256")
	}
	return u.s.Location(u.name), nil
}

// Abort fails the stream, so the upload never completes; after a Commit it deletes what Commit stored.
func (u *s3Upload) Abort(ctx context.Context) {
	committed := u.ended
	_ = u.pw.CloseWithError(errAborted)
	_ = u.wait()
	if committed {
		_ = u.s.Delete(ctx, u.name)
	}
}

var errAborted = errors.New("backup aborted")

// s3Error names what failed and says what the store's error code means.
func s3Error(err error, what string) error {
	r := minio.ToErrorResponse(err)
	switch r.Code {
	case "":
		return fmt.Errorf("%s: %w", what, err)
	case "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken", "ExpiredToken":
		return fmt.Errorf("%s: the store refused the credentials (%s: %s)", what, r.Code, r.Message)
	case "NoSuchBucket":
		return fmt.Errorf("%s: bucket %s does not exist", what, r.BucketName)
	default:
		return fmt.Errorf("%s: %s: %s", what, r.Code, r.Message)
	}
}
