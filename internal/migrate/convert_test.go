package migrate

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestConvertEMQX(t *testing.T) {
	for name, tc := range map[string]struct{ in, want string }{
		"v2alpha1": {
			in: `{"spec":{"image":"emqx/emqx:5.0.20","bootstrapConfig":"node.cookie = x","securityContext":{"runAsUser":1000},
				"coreTemplate":{"spec":{"replicas":3,"persistent":{"resources":{"requests":{"storage":"1Gi"}}},"securityContext":{"runAsNonRoot":true},"Containers":[{"name":"side"}]}},
				"replicantTemplate":{"spec":{"replicas":2}},
				"listenersServiceTemplate":{"apiVersion":"v1","kind":"Service","spec":{"type":"LoadBalancer"},"status":{}}}}`,
			want: `{"spec":{"image":"emqx/emqx:5.0.20","config":{"data":"node.cookie = x"},
				"coreTemplate":{"spec":{"replicas":3,"volumeClaimTemplates":{"resources":{"requests":{"storage":"1Gi"}}},"containerSecurityContext":{"runAsNonRoot":true},"extraContainers":[{"name":"side"}],"podSecurityContext":{"runAsUser":1000}}},
				"replicantTemplate":{"spec":{"replicas":2,"podSecurityContext":{"runAsUser":1000}}},
				"listenersServiceTemplate":{"spec":{"type":"LoadBalancer"}}}}`,
		},
		"v2beta1 unchanged": {
			in:   `{"spec":{"image":"emqx/emqx:5.8.6","config":{"data":"a = 1"},"coreTemplate":{"spec":{"volumeClaimTemplates":{}}}}}`,
			want: `{"spec":{"image":"emqx/emqx:5.8.6","config":{"data":"a = 1"},"coreTemplate":{"spec":{"volumeClaimTemplates":{}}}}}`,
		},
	} {
		t.Run(name, func(t *testing.T) {
			var in, want map[string]any
			if err := json.Unmarshal([]byte(tc.in), &in); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(tc.want), &want); err != nil {
				t.Fatal(err)
			}
			changed := ConvertEMQX(in)
			if !reflect.DeepEqual(in, want) {
				got, _ := json.Marshal(in)
				t.Errorf("got %s", got)
			}
			if changed != (tc.in != tc.want) {
				t.Errorf("changed = %v", changed)
			}
			if ConvertEMQX(in) {
				t.Error("converting twice changed it again")
			}
		})
	}
}
