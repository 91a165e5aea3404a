{{/* Chart name. */}}
{{- define "mosip-partner-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: the release name, suffixed with the chart name unless it already contains it. */}}
{{- define "mosip-partner-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "mosip-partner-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "mosip-partner-operator.labels" -}}
helm.sh/chart: {{ include "mosip-partner-operator.chart" . }}
{{ include "mosip-partner-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: mosip-partner-operator
{{- end }}

{{/* Labels that select the operator's pods. */}}
{{- define "mosip-partner-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mosip-partner-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "mosip-partner-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "mosip-partner-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* "true" when leader election is on: asked for, or more than one replica. */}}
{{- define "mosip-partner-operator.leaderElect" -}}
{{- if or .Values.leaderElection.enabled (gt (int .Values.replicas) 1) }}true{{- end }}
{{- end }}

{{- define "mosip-partner-operator.leaseName" -}}
{{- $full := include "mosip-partner-operator.fullname" . }}
{{- $default := ternary (printf "%s-leader" $full) (printf "%s-mosip-partner-leader" $full) (contains "mosip-partner" $full) }}
{{- default $default .Values.leaderElection.leaseName | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "mosip-partner-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The watched namespaces, de-duplicated; empty for all. "*" means all, as for the flag. */}}
{{- define "mosip-partner-operator.watchNamespaces" -}}
{{- $list := .Values.watchNamespaces | default (list) | uniq }}
{{- if has "*" $list }}{{- else }}{{ join "," $list }}{{- end }}
{{- end }}

{{/* Rules on the namespaced kinds and Secrets, wherever the operator watches. */}}
{{- define "mosip-partner-operator.watchedRules" -}}
- apiGroups: ["pms.mosip.io"]
  resources: ["partners", "misplicenses"]
  verbs: ["get", "list", "watch"]
# The finalizer pms.mosip.io/deactivate (mosip backend): added and removed with JSON patches.
- apiGroups: ["pms.mosip.io"]
  resources: ["partners", "misplicenses"]
  verbs: ["patch"]
- apiGroups: ["pms.mosip.io"]
  resources: ["partners/status", "misplicenses/status"]
  verbs: ["get", "patch", "update"]
# Emitted Secrets carry controller ownerReferences with blockOwnerDeletion.
- apiGroups: ["pms.mosip.io"]
  resources: ["partners/finalizers", "misplicenses/finalizers"]
  verbs: ["update"]
# Metadata-only watch of Secrets, the referenced certificate Secrets, and the API-key, licence
# and re-signed certificate Secrets the operator writes (patch: consumer copies, mosip backend).
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
{{- end }}

{{/* Rules of mosip-partner-editor (and so of mosip-partner-admin). */}}
{{- define "mosip-partner-operator.editorRules" -}}
- apiGroups: ["pms.mosip.io"]
  resources: ["partners", "misplicenses"]
  verbs: ["create", "update", "patch", "delete", "get", "list", "watch"]
- apiGroups: ["pms.mosip.io"]
  resources: ["partners/status", "misplicenses/status"]
  verbs: ["get"]
- apiGroups: ["pms.mosip.io"]
  resources: ["cacertificates", "partnerpolicies"]
  verbs: ["get", "list", "watch"]
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["create", "update", "patch", "delete", "get", "list", "watch"]
{{- end }}

{{/* "true" in mosip backend mode. */}}
{{- define "mosip-partner-operator.mosip" -}}
{{- if eq .Values.backend.mode "mosip" }}true{{- end }}
{{- end }}

{{/* Secrets in a namespace that only receives consumer copies (mosip backend, spec.exports). */}}
{{- define "mosip-partner-operator.exportRules" -}}
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
{{- end }}

{{/* mosip backend with watched namespaces: the export target namespaces outside them, comma-separated. */}}
{{- define "mosip-partner-operator.exportNamespaces" -}}
{{- $watch := include "mosip-partner-operator.watchNamespaces" . }}
{{- if and $watch (include "mosip-partner-operator.mosip" .) }}
{{- $watched := splitList "," $watch }}
{{- $out := list }}
{{- range $ns := .Values.backend.mosip.exportNamespaces | default (list) | uniq }}
{{- if not (has $ns $watched) }}{{- $out = append $out $ns }}{{- end }}
{{- end }}
{{- join "," $out }}
{{- end }}
{{- end }}
