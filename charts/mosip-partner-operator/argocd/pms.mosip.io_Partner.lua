-- Argo CD health check for pms.mosip.io/Partner
-- (argocd-cm key: resource.customizations.health.pms.mosip.io_Partner).
-- Partner: Ready=True once registered, the certificate is valid and every policy request is
-- approved and issued. PendingApproval waits for an approver (`mosip-partner-operator approve`);
-- Deactivated is spec.active=false; Denied or invalid input sets Stalled=True.
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
