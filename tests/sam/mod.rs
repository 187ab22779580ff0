//! What `template.yaml` deploys, read as the tests need it: each function by its binary,
//! its environment variables' names and the IAM actions its policies allow.

#![allow(dead_code)]

use serde_yaml::Value;
use std::collections::BTreeSet;

pub fn template() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/template.yaml")).unwrap();
    serde_yaml::from_str(&text).expect("template.yaml parses")
}

pub fn functions(template: &Value) -> Vec<(String, &Value)> {
    template["Resources"]
        .as_mapping()
        .unwrap()
        .values()
        .filter(|r| r["Type"] == "AWS::Serverless::Function")
        .map(|r| (r["Metadata"]["BuildProperties"]["Binary"].as_str().expect("a Binary").to_owned(), r))
        .collect()
}

/// The names of a function's environment variables: the template's globals and its own.
pub fn environment_names(template: &Value, function: &Value) -> BTreeSet<String> {
    let names = |variables: &Value| -> Vec<String> {
        variables.as_mapping().into_iter().flat_map(|m| m.keys()).map(|k| k.as_str().unwrap().to_owned()).collect()
    };
    let mut all: BTreeSet<String> =
        names(&template["Globals"]["Function"]["Environment"]["Variables"]).into_iter().collect();
    all.extend(names(&function["Properties"]["Environment"]["Variables"]));
    all
}

/// Every IAM action a function's policies allow.
pub fn allowed_actions(function: &Value) -> BTreeSet<String> {
    let mut actions = BTreeSet::new();
    for policy in function["Properties"]["Policies"].as_sequence().into_iter().flatten() {
        for statement in policy["Statement"].as_sequence().into_iter().flatten() {
            match &statement["Action"] {
                Value::String(action) => {
                    actions.insert(action.clone());
                }
                Value::Sequence(list) => actions.extend(list.iter().map(|a| a.as_str().unwrap().to_owned())),
                other => panic!("an unexpected Action: {other:?}"),
            }
        }
    }
    actions
}
