{{- define "emqx-operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "emqx-operator.serviceAccountName" -}}
{{- default (include "emqx-operator.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "emqx-operator.labels" -}}
app.kubernetes.io/name: emqx-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "emqx-operator.selectorLabels" -}}
app.kubernetes.io/name: emqx-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The operator's RBAC rules, kept equal to config/rbac/role.yaml (hack/helm-chart.sh sync). */}}
{{- define "emqx-operator.rules" -}}
{{- (.Files.Get "files/role.yaml" | fromYaml).rules | toYaml -}}
{{- end -}}
