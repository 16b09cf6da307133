package migrate

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Finding is what Check says about one CRD of the apps.emqx.io group.
type Finding struct {
	CRD string
	// Action is set when the cluster is not ready for this operator's install: what to do.
	Action string
	// Notes describe the CRD (versions, webhook, resources) and warnings that need no action.
	Notes []string
}

// Check reports, for every CRD of the group apps.emqx.io, whether this operator's install can
// take it: before a switch it says what `manager migrate crds` will do, after it confirms that
// nothing depends on the vendor's webhook any more.
func Check(ctx context.Context, c client.Client) ([]Finding, error) {
	ours, err := OurCRDs()
	if err != nil {
		return nil, err
	}
	list := &apiextensionsv1.CustomResourceDefinitionList{}
	if err := c.List(ctx, list); err != nil {
		return nil, err
	}
	var out []Finding
	for i := range list.Items {
		cur := &list.Items[i]
		if cur.Spec.Group != "apps.emqx.io" {
			continue
		}
		f := Finding{CRD: cur.Name, Notes: []string{fmt.Sprintf("versions %s; stored versions %v", describeVersions(cur), cur.Status.StoredVersions)}}
		if w := webhook(cur); w != nil {
			f.Notes = append(f.Notes, webhookNote(ctx, c, w))
		}
		idx := slices.IndexFunc(ours, func(o *apiextensionsv1.CustomResourceDefinition) bool { return o.Name == cur.Name })
		switch {
		case idx < 0:
			f.Notes = append(f.Notes, "not a kind this operator serves: the install leaves this CRD alone; once the vendor's "+
				"operator is gone, requests for it fail if they need its webhook (back its resources up, then delete the CRD, "+
				"or keep the vendor's operator for it)")
		case isOurs(cur, ours[idx]):
			f.Notes = append(f.Notes, "this operator's definition: nothing to do")
		default:
			f.Action = "run `manager migrate crds` before installing (it rewrites every resource into " + storageVersion(ours[idx]) +
				" and removes the conversion webhook); a plain install would fail on status.storedVersions"
		}
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b Finding) int { return strings.Compare(a.CRD, b.CRD) })
	return out, nil
}

func describeVersions(c *apiextensionsv1.CustomResourceDefinition) string {
	var parts []string
	for _, v := range c.Spec.Versions {
		p := v.Name
		if v.Storage {
			p += " (storage)"
		}
		if !v.Served {
			p += " (not served)"
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, ", ")
}

// webhookNote says where the conversion webhook is and whether its Service still exists.
func webhookNote(ctx context.Context, c client.Client, w *apiextensionsv1.WebhookConversion) string {
	if w.ClientConfig == nil || w.ClientConfig.Service == nil {
		return "conversion webhook at a URL"
	}
	s := w.ClientConfig.Service
	svc := &corev1.Service{}
	err := c.Get(ctx, client.ObjectKey{Namespace: s.Namespace, Name: s.Name}, svc)
	state := "its Service exists"
	switch {
	case apierrors.IsNotFound(err):
		state = "its Service does not exist: every request that needs conversion fails"
	case err != nil:
		state = "its Service could not be read: " + err.Error()
	}
	return fmt.Sprintf("conversion webhook Service %s/%s (%s)", s.Namespace, s.Name, state)
}
