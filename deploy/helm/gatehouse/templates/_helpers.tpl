{{/* The chart's name, cut to the 63 characters a label value may hold. */}}
{{- define "gatehouse.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The name of the release's objects, at most 52 characters: a StatefulSet's pods carry a label of its
name and an 11-character suffix (63 at most), and "-headless" and "-bundle" follow it in others.
*/}}
{{- define "gatehouse.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else if contains (include "gatehouse.name" .) .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "gatehouse.name" .) | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "gatehouse.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gatehouse.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "gatehouse.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "gatehouse.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "gatehouse.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "gatehouse.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret holding the admin token and the generated API key. */}}
{{- define "gatehouse.secretName" -}}
{{- default (include "gatehouse.fullname" .) .Values.existingSecret }}
{{- end }}

{{/* Whether the chart authenticates callers with its generated API key (config.auth not given). */}}
{{- define "gatehouse.generatedApiKey" -}}
{{- if not (hasKey .Values.config "auth") }}true{{ end }}
{{- end }}

{{/* Whether the Rego bundle comes from a ConfigMap. */}}
{{- define "gatehouse.bundleConfigMap" -}}
{{- if and .Values.policy.enabled (not .Values.policy.bundleUrl) }}
{{- if .Values.policy.bundle.existingConfigMap }}{{ .Values.policy.bundle.existingConfigMap }}
{{- else if .Values.policy.bundle.files }}{{ include "gatehouse.fullname" . }}-bundle{{ end }}
{{- end }}
{{- end }}

{{/*
gatehouse serve's configuration: .Values.config with what the chart sets over it. Mount points
(none inside another, since a ConfigMap or Secret volume is read-only): /etc/gatehouse/config (this
file, rules.yaml, bundle-key.pem), /etc/gatehouse/bundle, /etc/gatehouse/tls, /var/lib/gatehouse
(state and audit log). Without config.upstreams, the embedded default's gateway: the built-in file
tools and tenancy with the engagement "default" (applied here, not in values.yaml, where Helm would
merge them into a configuration of the user's own).
*/}}
{{- define "gatehouse.config" -}}
{{- $c := deepCopy .Values.config }}
{{- if not (hasKey $c "upstreams") }}
{{- $_ := set $c "upstreams" (list (dict "name" "fs" "builtin" "fs" "fs" (dict "data_root" "/var/lib/gatehouse/data"))) }}
{{- if not (hasKey $c "tenancy") }}
{{- $_ := set $c "tenancy" (dict "enabled" true "sources" (list "token" "path") "default" "default") }}
{{- end }}
{{- end }}
{{- $_ := set $c "listen" (printf "0.0.0.0:%d" (int .Values.service.port)) }}
{{- $admin := default dict (get $c "admin") }}
{{- $_ = set $admin "listen" (printf "0.0.0.0:%d" (int .Values.admin.port)) }}
{{- $_ = set $admin "token_sha256" "${GATEHOUSE_ADMIN_TOKEN_SHA256}" }}
{{- $_ = set $c "admin" $admin }}
{{- if .Values.tls.secretName }}
{{- $_ = set $c "tls" (dict "cert" "/etc/gatehouse/tls/tls.crt" "key" "/etc/gatehouse/tls/tls.key") }}
{{- end }}
{{- if include "gatehouse.generatedApiKey" . }}
{{- $key := dict "id" .Values.apiKey.id "hash" "${GATEHOUSE_API_KEY_HASH}" }}
{{- with .Values.apiKey.roles }}{{ $_ = set $key "roles" . }}{{ end }}
{{- with .Values.apiKey.tenant }}{{ $_ = set $key "tenant" . }}{{ end }}
{{- $_ = set $c "auth" (dict "api_keys" (dict "keys" (list $key))) }}
{{- end }}
{{- $p := default dict (get $c "policy") }}
{{- if .Values.policy.rules }}
{{- $_ = set $p "rules" "/etc/gatehouse/config/rules.yaml" }}
{{- end }}
{{- if .Values.policy.enabled }}
{{- $_ = set $p "enabled" true }}
{{- $_ = set $p "rego_mode" .Values.policy.mode }}
{{- if .Values.policy.bundleUrl }}
{{- $_ = set $p "bundle_url" .Values.policy.bundleUrl }}
{{- else if include "gatehouse.bundleConfigMap" . }}
{{- $_ = set $p "bundle" "/etc/gatehouse/bundle" }}
{{- else }}
{{- $_ = set $p "bundle" "builtin:starter" }}
{{- end }}
{{- $_ = set $p "poll_seconds" (int .Values.policy.pollSeconds) }}
{{- with .Values.policy.bundleSha256 }}{{ $_ = set $p "bundle_sha256" . }}{{ end }}
{{- if .Values.policy.bundlePublicKey }}{{ $_ = set $p "bundle_public_key" "/etc/gatehouse/config/bundle-key.pem" }}{{ end }}
{{- else }}
{{- $_ = set $p "enabled" false }}
{{- end }}
{{- $_ = set $c "policy" $p }}
{{- $audit := default dict (get $c "audit") }}
{{- $_ = set $audit "path" "/var/lib/gatehouse/gatehouse-audit.jsonl" }}
{{- $_ = set $c "audit" $audit }}
{{- $pins := default dict (get $c "pins") }}
{{- if not (hasKey $pins "file") }}{{ $_ = set $pins "file" "/var/lib/gatehouse/gatehouse-pins.json" }}{{ end }}
{{- $_ = set $c "pins" $pins }}
{{- $tenancy := default dict (get $c "tenancy") }}
{{- if not (hasKey $tenancy "allowlist_file") }}{{ $_ = set $tenancy "allowlist_file" "/var/lib/gatehouse/gatehouse-engagements.json" }}{{ end }}
{{- $_ = set $c "tenancy" $tenancy }}
{{- if and (include "gatehouse.sessionRouting" .) (not (hasKey $c "replicas")) }}
{{- $fullname := include "gatehouse.fullname" . }}
{{- $scheme := ternary "https" "http" (not (empty .Values.tls.secretName)) }}
{{- $peers := dict }}
{{- range $i := until (int .Values.replicaCount) }}
{{- $_ := set $peers (printf "%s-%d" $fullname $i) (printf "%s://%s-%d.%s-headless.%s.svc:%d" $scheme $fullname $i $fullname $.Release.Namespace (int $.Values.service.port)) }}
{{- end }}
{{- $r := dict "name" "${POD_NAME}" "key_env" "GATEHOUSE_REPLICA_KEY" "peers" $peers }}
{{- with .Values.sessionRouting.caFile }}{{ $_ := set $r "ca_file" . }}{{ end }}
{{- $_ := set $c "replicas" $r }}
{{- end }}
{{- if .Values.redis.passwordSecret.name }}
{{- $state := default dict (get $c "state") }}
{{- $redis := default dict (get $state "redis") }}
{{- $_ = set $redis "password_env" "GATEHOUSE_REDIS_PASSWORD" }}
{{- $_ = set $state "redis" $redis }}
{{- $_ = set $c "state" $state }}
{{- end }}
{{- toYaml $c }}
{{- end }}

{{/* Whether legacy sessions are routed between replicas: more than one, each with a stable name. */}}
{{- define "gatehouse.sessionRouting" -}}
{{- if and .Values.sessionRouting.enabled .Values.persistence.enabled (gt (int .Values.replicaCount) 1) }}true{{ end }}
{{- end }}

{{/* Refusals of value combinations that would not run, or not safely. */}}
{{- define "gatehouse.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.redis.url) }}
{{- fail "replicaCount > 1 needs redis.url: budgets, rate limits, kills and approvals would otherwise be counted per replica (SPEC §11)" }}
{{- end }}
{{- if and (not .Values.policy.enabled) (not .Values.policy.rules) (ne (toString (default "enforce" .Values.config.mode)) "off") }}
{{- fail "policy.enabled is false and policy.rules is empty: give a policy, or set config.mode: off on purpose" }}
{{- end }}
{{- if and .Values.policy.bundleSha256 (not .Values.policy.bundleUrl) }}
{{- fail "policy.bundleSha256 pins a bundle file: it needs policy.bundleUrl (a ConfigMap bundle is a directory)" }}
{{- end }}
{{- if and .Values.policy.bundleUrl (or .Values.policy.bundle.files .Values.policy.bundle.existingConfigMap) }}
{{- fail "policy.bundleUrl and policy.bundle: give one bundle" }}
{{- end }}
{{- if and .Values.redis.passwordSecret.name (not .Values.redis.url) }}
{{- fail "redis.passwordSecret needs redis.url" }}
{{- end }}
{{- if and (include "gatehouse.sessionRouting" .) .Values.existingSecret }}
{{- $s := lookup "v1" "Secret" .Release.Namespace .Values.existingSecret }}
{{- if and $s (not (hasKey (default dict $s.data) "replica-key")) }}
{{- fail (printf "existingSecret %s has no key replica-key, which routing legacy sessions between replicas needs (32 or more random bytes): add it, or set sessionRouting.enabled: false" .Values.existingSecret) }}
{{- end }}
{{- end }}
{{- $set := dict "listen" (hasKey .Values.config "listen") "tls" (hasKey .Values.config "tls") }}
{{- with .Values.config.admin }}{{ $_ := set $set "admin.listen" (hasKey . "listen") }}{{ $_ := set $set "admin.token_sha256" (hasKey . "token_sha256") }}{{ end }}
{{- with .Values.config.audit }}{{ $_ := set $set "audit.path" (hasKey . "path") }}{{ end }}
{{- range $k, $v := $set }}
{{- if $v }}
{{- fail (printf "config.%s is set by the chart (from service.port, admin.port, the generated or existing Secret, tls.secretName, the audit volume): leave it out of config" $k) }}
{{- end }}
{{- end }}
{{- end }}
