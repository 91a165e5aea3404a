-- Argo CD health check for every pms.mosip.io kind: CACertificate, PartnerPolicy, Partner and
-- MispLicense all publish Ready/Stalled the same way, so one script serves them all.
-- argocd-cm: `resource.customizations` with key `pms.mosip.io/*` (see docs/gitops.md), or one
-- `resource.customizations.health.pms.mosip.io_<Kind>` key per kind with this same script.
-- PendingApproval (a Partner request awaits an approver) and Deactivated (spec.active=false, or a
-- deactivated MISP partner for a MispLicense) are deliberate waits; Stalled=True needs a person.
--
-- Order: no status or an old observedGeneration -> Progressing; Stalled=True -> Degraded;
-- Ready=True -> Healthy; Ready=False with reason PendingApproval or Deactivated -> Suspended;
-- anything else -> Progressing.
local hs = { status = "Progressing", message = "Waiting for the operator" }
if obj.status == nil or obj.status.conditions == nil then
  return hs
end
if obj.status.observedGeneration == nil or obj.metadata.generation == nil
    or obj.status.observedGeneration ~= obj.metadata.generation then
  hs.message = "Waiting for the operator to observe the latest generation"
  return hs
end
local ready = nil
local stalled = nil
for _, c in ipairs(obj.status.conditions) do
  if c.type == "Ready" then
    ready = c
  elseif c.type == "Stalled" then
    stalled = c
  end
end
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = (stalled.reason or "") .. ": " .. (stalled.message or "")
  return hs
end
if ready ~= nil then
  local msg = (ready.reason or "") .. ": " .. (ready.message or "")
  if ready.status == "True" then
    hs.status = "Healthy"
    hs.message = msg
    return hs
  end
  if ready.status == "False" and (ready.reason == "PendingApproval" or ready.reason == "Deactivated") then
    hs.status = "Suspended"
    hs.message = msg
    return hs
  end
  hs.message = msg
end
return hs
