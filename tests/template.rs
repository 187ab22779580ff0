//! Keeps `template.yaml` honest: its HTTP API routes are exactly the shared route table's,
//! each on the function the table names, with the JWT authorizer exactly where the table
//! wants one; the webhook is the Function URL; every function of the workspace is deployed;
//! and the table's schema is `infra/table.json`, which the local stack creates too.

mod sam;

use sam::{allowed_actions, environment_names, functions, template};
use serde_yaml::Value;
use shared::routes::{Auth, Function, Gateway, ROUTES};
use std::collections::BTreeSet;

/// (method, path, binary, behind the JWT authorizer)
type RouteRow = (String, String, String, bool);

#[test]
fn the_template_serves_exactly_the_route_table() {
    let template = template();
    let mut deployed: BTreeSet<RouteRow> = BTreeSet::new();
    let mut function_urls = BTreeSet::new();
    let mut streamed = BTreeSet::new();
    for (binary, function) in functions(&template) {
        let properties = &function["Properties"];
        if let Some(url) = properties.get("FunctionUrlConfig") {
            assert_eq!(url["AuthType"], "NONE", "{binary}: the signature, not IAM, authenticates Meta");
            function_urls.insert(binary.clone());
        }
        for event in properties["Events"].as_mapping().into_iter().flat_map(|m| m.values()) {
            if event["Type"] == "DynamoDB" {
                let filter = Function::ALL.iter().find(|f| f.binary() == binary).and_then(|f| f.stream_filter());
                let Some(filter) = filter else {
                    panic!("{binary} follows the table's stream in the template but not in the route table")
                };
                let p = &event["Properties"];
                assert_eq!(serde_yaml::to_string(&p["Stream"]).unwrap().trim(), "!GetAtt Table.StreamArn", "{binary}");
                let reports = p["FunctionResponseTypes"]
                    .as_sequence()
                    .is_some_and(|t| t.iter().any(|t| t == "ReportBatchItemFailures"));
                assert!(reports, "{binary}: a failed change is retried alone, and never blocks the shard");
                // The local feed hands each function what this filter hands it in AWS.
                let deployed: Vec<serde_json::Value> = p["FilterCriteria"]["Filters"]
                    .as_sequence()
                    .unwrap_or_else(|| panic!("{binary}: filtered"))
                    .iter()
                    .map(|f| serde_json::from_str(f["Pattern"].as_str().unwrap()).unwrap())
                    .collect();
                assert_eq!(deployed, filter.criteria(), "{binary}: the template's filter is the function's");
                streamed.insert(binary.clone());
                continue;
            }
            if event["Type"] == "SQS" {
                let follows = Function::ALL.iter().find(|f| f.binary() == binary).is_some_and(|f| f.follows_queue());
                assert!(follows, "{binary} follows a queue in the template but not in the route table");
                let reports = event["Properties"]["FunctionResponseTypes"]
                    .as_sequence()
                    .is_some_and(|t| t.iter().any(|t| t == "ReportBatchItemFailures"));
                assert!(reports, "{binary}: a failed message is retried alone");
                continue;
            }
            if event["Type"] == "Schedule" {
                let scheduled = Function::ALL.iter().find(|f| f.binary() == binary).is_some_and(|f| f.is_scheduled());
                assert!(scheduled, "{binary} is scheduled in the template but not in the route table");
                let schedule = serde_yaml::to_string(&event["Properties"]["Schedule"]).unwrap();
                assert_eq!(schedule.trim(), "!Ref HealthSweepSchedule", "{binary}");
                continue;
            }
            assert_eq!(event["Type"], "HttpApi", "{binary}");
            let p = &event["Properties"];
            let open = p.get("Auth").and_then(|a| a.get("Authorizer")).is_some_and(|a| a == "NONE");
            let row = (
                p["Method"].as_str().unwrap().to_owned(),
                p["Path"].as_str().unwrap().to_owned(),
                binary.clone(),
                !open,
            );
            assert!(deployed.insert(row), "a route is declared twice");
        }
    }
    let expected: BTreeSet<RouteRow> = ROUTES
        .iter()
        .filter(|r| r.gateway == Gateway::HttpApi)
        .map(|r| (r.method.to_owned(), r.path.to_owned(), r.function.binary().to_owned(), r.auth == Auth::Jwt))
        .collect();
    assert_eq!(deployed, expected);
    let expected_urls: BTreeSet<String> =
        ROUTES.iter().filter(|r| r.gateway == Gateway::FunctionUrl).map(|r| r.function.binary().to_owned()).collect();
    assert_eq!(function_urls, expected_urls);
    let expected_streamed: BTreeSet<String> =
        Function::ALL.iter().filter(|f| f.follows_stream()).map(|f| f.binary().to_owned()).collect();
    assert_eq!(streamed, expected_streamed, "every function that follows the stream has its trigger");
}

#[test]
fn every_function_of_the_workspace_is_deployed_once() {
    let template = template();
    let binaries: Vec<String> = functions(&template).into_iter().map(|(b, _)| b).collect();
    let unique: BTreeSet<&str> = binaries.iter().map(String::as_str).collect();
    assert_eq!(unique.len(), binaries.len(), "a binary is deployed twice");
    let expected: BTreeSet<&str> = Function::ALL.iter().map(|f| f.binary()).collect();
    assert_eq!(unique, expected);
    for binary in expected {
        let manifest = format!("{}/functions/{binary}/Cargo.toml", env!("CARGO_MANIFEST_DIR"));
        assert!(std::path::Path::new(&manifest).exists(), "{manifest}");
    }
    for (binary, function) in functions(&template) {
        let p = &function["Properties"];
        let timeout = p["Timeout"].as_u64().unwrap();
        let behind_api = p["Events"].as_mapping().into_iter().flat_map(|m| m.values()).any(|e| e["Type"] == "HttpApi");
        if behind_api {
            assert!(timeout < 30, "{binary}: API Gateway gives up after 30 s, so must the function");
        }
        assert!(p["MemorySize"].as_u64().is_some(), "{binary}: memory chosen for its work");
        assert_eq!(function["Metadata"]["BuildMethod"], "rust-cargolambda");
        // SAM runs `cargo lambda build --bin <Binary>` in CodeUri: only the function's own
        // crate has that binary (the workspace root is the local stack's package).
        assert_eq!(
            p["CodeUri"].as_str(),
            Some(format!("functions/{binary}").as_str()),
            "{binary}: built from its own crate"
        );
    }
    assert!(
        template["Globals"]["Function"].get("CodeUri").is_none(),
        "no shared CodeUri: each function names its crate"
    );
}

#[test]
fn sam_build_does_not_reuse_a_stale_function() {
    // SAM's cached build hashes a function's CodeUri folder alone; a change in shared/
    // would then deploy the previous bootstrap. Cargo's target directory is the cache.
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/samconfig.toml")).unwrap();
    let build = text.split("[default.build.parameters]").nth(1).expect("build parameters").split("\n[").next().unwrap();
    assert!(build.lines().any(|l| l.trim() == "cached = false"), "samconfig.toml: {build}");
    assert!(build.lines().any(|l| l.trim().starts_with("beta_features = true")), "rust-cargolambda is a beta method");
}

#[test]
fn the_table_is_the_schema_the_store_creates() {
    let template = template();
    let table = serde_json::to_value(&template["Resources"]["Table"]["Properties"]).unwrap();
    let schema: serde_json::Value =
        serde_json::from_str(shared::store::dynamo::TABLE_SCHEMA).expect("infra/table.json parses");
    for key in [
        "AttributeDefinitions",
        "KeySchema",
        "GlobalSecondaryIndexes",
        "TimeToLiveSpecification",
        "StreamSpecification",
    ] {
        assert_eq!(table[key], schema[key], "{key} differs between template.yaml and infra/table.json");
    }
    assert_eq!(table["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"], true);
    assert_eq!(table["SSESpecification"]["SSEEnabled"], true);
    assert_eq!(template["Resources"]["Table"]["DeletionPolicy"], "Retain");
}

#[test]
fn the_app_secret_is_never_a_plaintext_parameter() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/template.yaml")).unwrap();
    let template: Value = serde_yaml::from_str(&text).unwrap();
    let parameters = template["Parameters"].as_mapping().unwrap();
    assert!(parameters.keys().all(|k| !k.as_str().unwrap().to_lowercase().contains("secret")));
    assert!(!text.contains("META_APP_SECRET:"), "the functions get the secret's ARN, never its value");
    assert!(text.contains("META_APP_SECRET_ARN: !Ref MetaAppSecret"));
    assert!(text.contains(shared::aws::PLACEHOLDER), "the template's secret value is the placeholder");
}

#[test]
fn each_function_gets_the_key_and_the_app_secret_only_if_its_main_uses_them() {
    let template = template();
    for (binary, function) in functions(&template) {
        let main =
            std::fs::read_to_string(format!("{}/functions/{binary}/src/main.rs", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let uses_kms = main.contains(".with_kms()");
        let uses_secret = main.contains(".with_app_secret()") || main.contains(".with_meta()");
        let env = environment_names(&template, function);
        let actions = allowed_actions(function);
        assert_eq!(env.contains("KMS_KEY_ID"), uses_kms, "{binary}: KMS_KEY_ID in the template, with_kms in main");
        assert_eq!(actions.iter().any(|a| a.starts_with("kms:")), uses_kms, "{binary}: KMS permissions");
        assert_eq!(env.contains("META_APP_SECRET_ARN"), uses_secret, "{binary}: META_APP_SECRET_ARN, with_app_secret");
        assert_eq!(actions.contains("secretsmanager:GetSecretValue"), uses_secret, "{binary}: reading the secret");
    }
    // Those that never call Meta and never touch a token have neither.
    for lean in ["organizations", "init-oauth", "status"] {
        let (_, function) = functions(&template).into_iter().find(|(b, _)| b == lean).unwrap();
        assert!(allowed_actions(function).iter().all(|a| a.starts_with("dynamodb:")), "{lean}");
    }
}

#[test]
fn functions_may_read_in_batches_and_read_indexes_where_their_code_does() {
    let template = template();
    let all = functions(&template);
    let policy_of = |binary: &str| {
        let (_, function) = all.iter().find(|(b, _)| b == binary).unwrap();
        serde_yaml::to_string(&function["Properties"]["Policies"]).unwrap()
    };
    // The webhook reads what is already stored, and who sent a message, in batches.
    assert!(policy_of("webhook").contains("dynamodb:BatchGetItem"));
    // The messages listing and the caller's organization are read through indexes.
    for binary in ["messages", "status", "disconnect"] {
        assert!(policy_of(binary).contains("/index/*"), "{binary}");
    }
}

#[test]
fn the_alarms_watch_every_function() {
    let template = template();
    let functions: BTreeSet<String> = template["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
        .map(|(name, _)| name.as_str().unwrap().to_owned())
        .collect();
    for alarm in ["FunctionErrorsAlarm", "FunctionThrottlesAlarm"] {
        let watched: BTreeSet<String> = template["Resources"][alarm]["Properties"]["Metrics"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter_map(|m| match &m["MetricStat"]["Metric"]["Dimensions"][0]["Value"] {
                Value::Tagged(tagged) => tagged.value.as_str().map(str::to_owned),
                _ => None,
            })
            .collect();
        assert_eq!(watched, functions, "{alarm}");
    }
}

/// Each function gets the settings it reads and no other (`Function::configuration`), and
/// refuses to start without one it requires.
#[test]
fn each_function_gets_only_the_settings_it_reads() {
    let template = template();
    let globals = sam::environment_names(&template, &Value::Null);
    assert_eq!(globals, BTreeSet::from(["TABLE_NAME".to_owned()]), "the settings every function shares");
    for (binary, function) in functions(&template) {
        let deployed = Function::ALL.into_iter().find(|f| f.binary() == binary).unwrap();
        let given: BTreeSet<&str> = shared::routes::CONFIGURATION
            .into_iter()
            .filter(|name| environment_names(&template, function).contains(*name))
            .collect();
        let reads: BTreeSet<&str> = deployed.configuration().iter().copied().collect();
        assert_eq!(given, reads, "{binary}");
        let missing = deployed.check_configuration(|_| None);
        let requires = reads.iter().any(|name| shared::routes::REQUIRED_CONFIGURATION.contains(name));
        assert_eq!(missing.is_err(), requires, "{binary}: {missing:?}");
    }
}

#[test]
fn the_key_refuses_every_use_that_names_no_organization() {
    let template = template();
    let statements = template["Resources"]["TokenKey"]["Properties"]["KeyPolicy"]["Statement"].as_sequence().unwrap();
    let deny = statements.iter().find(|s| s["Effect"] == "Deny").expect("a Deny statement");
    assert_eq!(deny["Principal"], "*");
    let actions: BTreeSet<&str> = deny["Action"].as_sequence().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    for action in ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom", "kms:ReEncryptTo"] {
        assert!(actions.contains(action), "{action}");
    }
    assert_eq!(deny["Condition"]["Null"]["kms:EncryptionContext:organizationId"], "true");
    // And the code's context always names one.
    let organization = "org_0123456789abcdef0123".parse().unwrap();
    let context = shared::cipher::TokenContext::new(&organization, shared::cipher::Purpose::PhoneToken);
    assert!(context.pairs().iter().any(|(name, value)| *name == "organizationId" && !value.is_empty()));
}
