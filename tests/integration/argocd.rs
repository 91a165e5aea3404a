//! The Argo CD health script shipped in the chart, run (Lua 5.1, as Argo's gopher-lua) on
//! objects the operator really produced.

use crate::common;
use mlua::{Lua, LuaSerdeExt};

/// Runs the chart's health script (one for every kind) on `obj`; returns (status, message).
pub fn argocd_health(obj: &serde_json::Value) -> (String, String) {
    let path = common::repo_root().join("charts/mosip-partner-operator/argocd/health.lua");
    let script = std::fs::read_to_string(&path).expect("health script");
    let lua = Lua::new();
    let value = lua.to_value(obj).expect("to lua");
    lua.globals().set("obj", value).expect("set obj");
    let result: mlua::Table = lua.load(&script).eval().expect("script runs");
    (result.get::<String>("status").expect("status"), result.get::<String>("message").unwrap_or_default())
}

#[test]
fn script_maps_the_conditions() {
    let obj = |generation: i64, observed: Option<i64>, conds: serde_json::Value| serde_json::json!({"metadata": {"generation": generation}, "status": {"observedGeneration": observed, "conditions": conds}});
    let status = |o: &serde_json::Value| argocd_health(o).0;
    assert_eq!(status(&serde_json::json!({"metadata": {"generation": 1}})), "Progressing");
    assert_eq!(status(&obj(2, Some(1), serde_json::json!([{"type": "Ready", "status": "True"}]))), "Progressing");
    assert_eq!(
        status(&obj(1, Some(1), serde_json::json!([{"type": "Ready", "status": "True", "reason": "X"}]))),
        "Healthy"
    );
    assert_eq!(
        status(&obj(
            1,
            Some(1),
            serde_json::json!([
            {"type": "Ready", "status": "False", "reason": "Bad"}, {"type": "Stalled", "status": "True", "reason": "Bad"}])
        )),
        "Degraded"
    );
    let pending = obj(
        1,
        Some(1),
        serde_json::json!([
        {"type": "Ready", "status": "False", "reason": "PendingApproval"}, {"type": "Stalled", "status": "False"}]),
    );
    assert_eq!(argocd_health(&pending).0, "Suspended");
}
