{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "pod-identity.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Release-qualified name; the workloads are <fullname>-mic and <fullname>-nmi as in the original chart. */}}
{{- define "pod-identity.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "pod-identity.mic.fullname" -}}
{{- printf "%s-mic" (include "pod-identity.fullname" . | trunc 59 | trimSuffix "-") -}}
{{- end -}}

{{- define "pod-identity.nmi.fullname" -}}
{{- printf "%s-nmi" (include "pod-identity.fullname" . | trunc 59 | trimSuffix "-") -}}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "pod-identity.labels" -}}
app.kubernetes.io/name: {{ include "pod-identity.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end -}}

{{/* Stable subset used in selectors (never changes across upgrades). */}}
{{- define "pod-identity.selectors" -}}
app.kubernetes.io/name: {{ include "pod-identity.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The one image every role runs. The original chart's default repository means "ours". */}}
{{- define "pod-identity.image" -}}
{{- $repository := .Values.image.repository | default "ghcr.io/pod-identity" | trimSuffix "/" -}}
{{- if eq $repository "mcr.microsoft.com/oss/azure/aad-pod-identity" -}}
{{- $repository = "ghcr.io/pod-identity" -}}
{{- end -}}
{{- printf "%s/%s:%s" $repository (.Values.image.name | default "pod-identity") (.Values.image.tag | default .Chart.AppVersion | toString) -}}
{{- end -}}

{{/* imagePullPolicy: the original's image.imagePullPolicy, or image.pullPolicy as its README spelled it. */}}
{{- define "pod-identity.pullPolicy" -}}
{{- .Values.image.imagePullPolicy | default .Values.image.pullPolicy | default "IfNotPresent" -}}
{{- end -}}

{{- define "pod-identity.managed" -}}
{{- if eq (lower (toString .Values.operationMode)) "managed" -}}true{{- end -}}
{{- end -}}

{{/* forceNamespaced: the string "true" (or boolean true); forceNameSpaced is the deprecated spelling. */}}
{{- define "pod-identity.forceNamespaced" -}}
{{- $value := .Values.forceNamespaced -}}
{{- if and (eq (toString $value) "false") (hasKey .Values "forceNameSpaced") -}}
{{- $value = .Values.forceNameSpaced -}}
{{- end -}}
{{- if eq (lower (toString $value)) "true" -}}true{{- else -}}false{{- end -}}
{{- end -}}

{{/* Namespace of MIC's leader-election Lease: the release namespace unless set. */}}
{{- define "pod-identity.mic.leaseNamespace" -}}
{{- .Values.mic.leaderElection.namespace | default .Release.Namespace -}}
{{- end -}}

{{/*
"--name=value" for each (name value) pair whose value is set. A value is set when it is not null
and not the empty string, so `false` and `0` are rendered (the original chart dropped them).
*/}}
{{- define "pod-identity.optionalFlags" -}}
{{- $out := list -}}
{{- range $pair := . -}}
{{- $value := index $pair 1 -}}
{{- if and (not (kindIs "invalid" $value)) (ne (toString $value) "") -}}
{{- if and (kindIs "float64" $value) (eq $value (float64 (int64 $value))) -}}
{{- $value = int64 $value -}}
{{- end -}}
{{- $out = append $out (printf "--%s=%v" (index $pair 0) $value) -}}
{{- end -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/* Arguments of the MIC container. */}}
{{- define "pod-identity.mic.args" -}}
{{- $mic := .Values.mic -}}
{{- $args := list "--role=mic" -}}
{{- if not .Values.adminsecret -}}
{{- $args = append $args (printf "--cloudconfig=%s" $mic.cloudConfig) -}}
{{- end -}}
{{- $args = append $args "--logtostderr" -}}
{{- $args = append $args (printf "--leader-election-namespace=%s" (include "pod-identity.mic.leaseNamespace" .)) -}}
{{- $le := $mic.leaderElection | default dict -}}
{{- $optional := list
  (list "log-format" $mic.loggingFormat)
  (list "v" ($mic.logVerbosity | default ""))
  (list "leader-election-instance" $le.instance)
  (list "leader-election-name" $le.name)
  (list "leader-election-duration" $le.duration)
  (list "http-probe-port" $mic.probePort)
  (list "createDeleteBatch" $mic.createDeleteBatch)
  (list "clientQps" $mic.clientQps)
  (list "immutable-user-msis" (join "," ($mic.immutableUserMSIs | default list)))
  (list "prometheus-port" $mic.prometheusPort)
  (list "syncRetryDuration" $mic.syncRetryDuration)
  (list "update-user-msi-max-retry" $mic.updateUserMSIMaxRetry)
  (list "update-user-msi-retry-interval" $mic.updateUserMSIRetryInterval)
  (list "identity-assignment-reconcile-interval" $mic.identityAssignmentReconcileInterval)
  (list "unassign-grace-period" $mic.unassignGracePeriod)
  (list "custom-user-agent" .Values.customUserAgent)
-}}
{{- $args = concat $args (include "pod-identity.optionalFlags" $optional | fromJsonArray) -}}
{{- toYaml $args -}}
{{- end -}}

{{/* Arguments of the NMI container (role nmi, or managed in managed mode). */}}
{{- define "pod-identity.nmi.args" -}}
{{- $nmi := .Values.nmi -}}
{{- $managed := include "pod-identity.managed" . -}}
{{- $args := list (printf "--role=%s" (ternary "managed" "nmi" (eq $managed "true"))) "--node=$(NODE_NAME)" -}}
{{- $args = append $args (printf "--http-probe-port=%v" ($nmi.probePort | default "8085")) -}}
{{- $args = append $args (printf "--operation-mode=%s" (ternary "managed" "standard" (eq $managed "true"))) -}}
{{- if eq $managed "true" -}}
{{- $args = append $args "--forceNamespaced" -}}
{{- end -}}
{{- $optional := list
  (list "log-format" $nmi.loggingFormat)
  (list "v" ($nmi.logVerbosity | default ""))
  (list "ipt-update-interval-sec" $nmi.ipTableUpdateTimeIntervalInSeconds)
  (list "MICNamespace" $nmi.micNamespace)
  (list "retry-attempts-for-created" $nmi.retryAttemptsForCreated)
  (list "retry-attempts-for-assigned" $nmi.retryAttemptsForAssigned)
  (list "find-identity-retry-interval" $nmi.findIdentityRetryIntervalInSeconds)
  (list "enableScaleFeatures" $nmi.enableScaleFeatures)
  (list "prometheus-port" $nmi.prometheusPort)
  (list "block-instance-metadata" $nmi.blockInstanceMetadata)
  (list "metadata-header-required" $nmi.metadataHeaderRequired)
  (list "allow-network-plugin-kubenet" $nmi.allowNetworkPluginKubenet)
  (list "kubelet-config" $nmi.kubeletConfig)
  (list "set-retry-after-header" $nmi.setRetryAfterHeader)
  (list "enable-conntrack-deletion" $nmi.enableConntrackDeletion)
  (list "token-cache" $nmi.tokenCache)
  (list "token-cache-max-age" $nmi.tokenCacheMaxAge)
  (list "token-refresh-before" $nmi.tokenRefreshBefore)
  (list "imds-max-concurrent" $nmi.imdsMaxConcurrent)
  (list "imds-max-rps" $nmi.imdsMaxRps)
  (list "identity-propagation-retry" $nmi.identityPropagationRetry)
  (list "max-header-bytes" $nmi.maxHeaderBytes)
  (list "custom-user-agent" .Values.customUserAgent)
-}}
{{- $args = concat $args (include "pod-identity.optionalFlags" $optional | fromJsonArray) -}}
{{- toYaml $args -}}
{{- end -}}

{{/*
NMI's container securityContext. Root for iptables and conntrack, with only NET_ADMIN and NET_RAW
(netfilter over netlink, raw sockets). The original also added DAC_READ_SEARCH; NMI's host files
(/run/xtables.lock, the kubelet config) are root-owned, so uid 0 reads them without it.
*/}}
{{- define "pod-identity.nmi.securityContext" -}}
runAsUser: 0
allowPrivilegeEscalation: false
privileged: false
capabilities:
  drop:
    - ALL
  add:
    - NET_ADMIN
    - NET_RAW
{{- end -}}
