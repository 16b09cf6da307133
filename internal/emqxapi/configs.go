package emqxapi

import (
	"context"
	"fmt"
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
	// text/plain: from 6.1 a JSON body is silently treated as empty (200, nothing changed).
	status, body, err := c.do(ctx, http.MethodPut, fmt.Sprintf("/api/v5/configs?mode=%s&ignore_readonly=true", mode),
		"text/plain", strings.NewReader(hoconText))
	if err != nil {
		return err
	}
	if status/100 != 2 {
		return decodeError(status, body)
	}
	return nil
}
