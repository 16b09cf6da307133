{{/*
Labels every object of the cluster carries: the operator's selector labels plus the user's, then
the operator-wide commonLabels (watches.yaml's overrideValues) under the keys neither of those nor
the object's own labels set. Called with (dict "root" $ "own" LABELS): the caller prints the
object's own labels after these, so a key is never printed twice.
*/}}
{{- define "emqx.labels" -}}
{{- $v := .root.Values -}}
{{- $labels := merge (dict) ($v.cluster.labels | default dict) $v.cluster.selectorLabels -}}
{{- $own := .own | default dict -}}
{{- range $k, $val := ($v.commonLabels | default dict) -}}
{{- if not (or (hasKey $labels $k) (hasKey $own $k)) -}}
{{- $_ := set $labels $k $val -}}
{{- end -}}
{{- end -}}
{{ toYaml $labels }}
{{- end -}}

{{/* Selector labels of one role: never contain user labels, so selectors never change. */}}
{{- define "emqx.roleSelector" -}}
{{- $sel := merge (dict "apps.emqx.io/db-role" .role) .root.Values.cluster.selectorLabels -}}
{{ toYaml $sel }}
{{- end -}}

{{/*
An object's own annotations over operator-wide ones (commonAnnotations or podAnnotations of
watches.yaml's overrideValues): called with (dict "common" MAP "own" MAP); prints nothing when
both are empty.
*/}}
{{- define "emqx.annotations" -}}
{{- $a := dict -}}
{{- range $k, $v := (.common | default dict) -}}
{{- $_ := set $a $k $v -}}
{{- end -}}
{{- range $k, $v := (.own | default dict) -}}
{{- $_ := set $a $k $v -}}
{{- end -}}
{{- with $a }}{{ toYaml . }}{{ end -}}
{{- end -}}

{{/*
An image under the imageRegistry override: the registry part replaced, the repository path and
tag or digest kept, Docker Hub's short names spelled out as a mirror keeps them
("busybox" -> REGISTRY/library/busybox). Without a registry, the image as it is. Called with
(dict "image" IMAGE "registry" REGISTRY). internal/render.RewriteImage is the same in Go.
*/}}
{{- define "emqx.image" -}}
{{- $image := .image | default "" -}}
{{- $registry := .registry | default "" -}}
{{- if and $image $registry -}}
{{- $path := $image -}}
{{- $parts := splitn "/" 2 $image -}}
{{- $first := $parts._0 -}}
{{- if not (contains "/" $image) -}}
{{- $path = printf "library/%s" $image -}}
{{- else if or (contains "." $first) (contains ":" $first) (eq $first "localhost") -}}
{{- $path = $parts._1 -}}
{{- if and (has $first (list "docker.io" "index.docker.io")) (not (contains "/" $path)) -}}
{{- $path = printf "library/%s" $path -}}
{{- end -}}
{{- end -}}
{{- printf "%s/%s" (trimSuffix "/" $registry) $path -}}
{{- else -}}
{{- $image -}}
{{- end -}}
{{- end -}}
