package emqxapi

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// PutConfigs applies HOCON to the running cluster (PUT /configs?mode=merge|replace). Keys that
// are read-only at runtime are dropped by EMQX (ignore_readonly=true): they reach nodes through the
// config file on their next restart. A config EMQX rejects comes back as *Error with status 400 and
// EMQX's {"errors": ...} body as the message.
func (c *Client) PutConfigs(ctx context.Context, hoconText string, replace bool) error {
	mode := "merge"
	if replace {
		mode = "replace"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, fmt.Sprintf("%s/api/v5/configs?mode=%s&ignore_readonly=true", c.base, mode),
		strings.NewReader(hoconText))
	if err != nil {
		return err
	}
	req.SetBasicAuth(c.creds.Key, c.creds.Secret)
	// text/plain: from 6.1 a JSON body is silently treated as empty (200, nothing changed).
	req.Header.Set("Content-Type", "text/plain")
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close() //nolint:errcheck // read-only body
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return decodeError(resp.StatusCode, body)
	}
	return nil
}
