{{/*
trustsync.component is the values key of the component a Deployment belongs to, by its
app.kubernetes.io/component label.
*/}}
{{- define "trustsync.component" -}}
{{- $c := dict "controller" "controller" "webhook" "webhook" "bundle-server" "bundleServer" "dashboard" "dashboard" -}}
{{- get $c . -}}
{{- end -}}

{{/*
trustsync.deployment applies the values to a Deployment of config/: the image, the pull
policy, the replicas and resources of its component, the controller's leader election,
and the platform ConfigMap's name when the platform value renamed it. It is given
(dict "obj" … "root" $ "platform" name-or-empty) and changes obj in place.
*/}}
{{- define "trustsync.deployment" -}}
{{- $obj := .obj -}}
{{- $root := .root -}}
{{- $component := include "trustsync.component" (index $obj.metadata.labels "app.kubernetes.io/component") -}}
{{- $v := index $root.Values $component | default dict -}}
{{- if not (kindIs "invalid" $v.replicas) -}}
{{- $_ := set $obj.spec "replicas" $v.replicas -}}
{{- end -}}
{{- range $c := $obj.spec.template.spec.containers -}}
{{- if hasPrefix "ghcr.io/trustsync/trustsync" $c.image -}}
{{- $_ := set $c "image" (printf "%s:%s" $root.Values.image.repository $root.Values.image.tag) -}}
{{- end -}}
{{- if $root.Values.image.pullPolicy -}}
{{- $_ := set $c "imagePullPolicy" $root.Values.image.pullPolicy -}}
{{- end -}}
{{- if $v.resources -}}
{{- $_ := set $c "resources" $v.resources -}}
{{- end -}}
{{- if and (eq $component "controller") (not $root.Values.controller.leaderElection) -}}
{{- $_ := set $c "args" (without $c.args "--leader-elect") -}}
{{- end -}}
{{- end -}}
{{- if .platform -}}
{{- range $vol := $obj.spec.template.spec.volumes | default list -}}
{{- if and $vol.configMap (hasPrefix "trustsync-platform" $vol.configMap.name) -}}
{{- $_ := set $vol.configMap "name" $.platform -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
