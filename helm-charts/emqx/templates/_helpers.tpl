{{/* Labels every object of the cluster carries: the operator's selector labels plus the user's. */}}
{{- define "emqx.labels" -}}
{{- $labels := merge (dict) (.Values.cluster.labels | default dict) .Values.cluster.selectorLabels -}}
{{ toYaml $labels }}
{{- end -}}

{{/* Selector labels of one role: never contain user labels, so selectors never change. */}}
{{- define "emqx.roleSelector" -}}
{{- $sel := merge (dict "apps.emqx.io/db-role" .role) .root.Values.cluster.selectorLabels -}}
{{ toYaml $sel }}
{{- end -}}
