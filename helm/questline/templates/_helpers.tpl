{{/*
Names. The base leaves room for the longest part suffix ("-notifications").
*/}}
{{- define "questline.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 40 | trimSuffix "-" }}
{{- end }}

{{- define "questline.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The parts of the engine: ports, the gRPC service named by readiness, and whom
each part calls (NetworkPolicy is derived from `calls`).
*/}}
{{- define "questline.parts" -}}
identity:
  port: 50051
  adminPort: 9101
  grpcService: questline.identity.v1.IdentityService
  calls: [ledger, mechanics, rewards, notifications]
ledger:
  port: 50052
  adminPort: 9102
  grpcService: questline.ledger.v1.LedgerService
  calls: [identity]
mechanics:
  port: 50053
  adminPort: 9103
  grpcService: questline.mechanics.v1.MechanicsService
  calls: [identity, ledger]
rewards:
  port: 50054
  adminPort: 9104
  grpcService: questline.rewards.v1.RewardsService
  calls: [identity, ledger]
notifications:
  port: 50055
  adminPort: 9105
  grpcService: questline.notifications.v1.NotificationsService
  calls: [identity]
gateway:
  port: 8080
  adminPort: 9106
  calls: [identity, ledger, mechanics, rewards, notifications]
{{- end }}

{{/* The five services with a database, in a fixed order. */}}
{{- define "questline.serviceNames" -}}
[identity, ledger, mechanics, rewards, notifications]
{{- end }}

{{/* Every part, the gateway last. */}}
{{- define "questline.partNames" -}}
[identity, ledger, mechanics, rewards, notifications, gateway]
{{- end }}

{{- define "questline.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "questline.labels" -}}
helm.sh/chart: {{ include "questline.chart" . }}
app.kubernetes.io/name: {{ include "questline.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: questline
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Labels of one part's objects. Takes (dict "root" $ "component" $name). */}}
{{- define "questline.componentLabels" -}}
{{ include "questline.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* What selects one part's pods. Takes (dict "root" $ "component" $name). */}}
{{- define "questline.selectorLabels" -}}
app.kubernetes.io/name: {{ include "questline.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "questline.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "questline.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "questline.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop:
    - ALL
{{- end }}

{{/* OTel resource attributes: the operator's, then where the pod runs. */}}
{{- define "questline.resourceAttributes" -}}
{{- $attrs := list }}
{{- range $k, $v := .Values.telemetry.resourceAttributes }}
{{- $attrs = append $attrs (printf "%s=%v" $k $v) }}
{{- end }}
{{- $attrs = append $attrs "k8s.namespace.name=$(POD_NAMESPACE)" }}
{{- $attrs = append $attrs "k8s.pod.name=$(POD_NAME)" }}
{{- join "," $attrs }}
{{- end }}

{{/* QUESTLINE__<PART>__DATABASE_URL of one part from its Secret. Takes (dict "root" $ "name" $name). */}}
{{- define "questline.databaseEnv" -}}
{{- $db := ternary .root.Values.gateway (index .root.Values.services .name) (eq .name "gateway") | dig "database" dict -}}
- name: QUESTLINE__{{ upper .name }}__DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ $db.secretName }}
      key: {{ $db.secretKey }}
{{- end }}
