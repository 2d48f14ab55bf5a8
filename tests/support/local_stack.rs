//! The local stack's shared pieces for end-to-end tests: the table and topic the functions under
//! `cargo lambda watch` use, a queue on the topic, the alarm topic (the state machine pages it when
//! a rollback cannot finish) with a queue on it, and a state machine from infra/.

use rollgate::adapters::dynamodb::DynamoStore;

use crate::{aws, fixtures};

pub const TABLE: &str = "rollgate-e2e";
/// The approvals' task tokens (scripts/local-stack.sh gives the functions its name).
pub const TOKEN_TABLE: &str = "rollgate-e2e-tokens";
pub const TOPIC: &str = "rollgate-e2e";
/// The topic `AlarmRollbackFailed` publishes to (`${AlarmTopicArn}` in the definition).
pub const ALARM_TOPIC: &str = "rollgate-e2e-alarms";

pub struct Stack {
    pub config: aws_config::SdkConfig,
    pub store: DynamoStore,
    pub sfn: aws_sdk_sfn::Client,
    pub state_machine: String,
    pub queue_url: String,
    /// A queue on the alarm topic, new for this stack.
    pub alarm_queue_url: String,
    /// An IAM user of this stack, with an access key the emulator issued: the control endpoint
    /// authenticates only such keys (scripts/api_gateway.py), as API Gateway does.
    pub operator: crate::fixtures::Person,
}

/// The control endpoint of the local stack (the router's stand-in for the template's ControlApi).
pub fn control_url() -> String {
    format!("http://127.0.0.1:{}/_api/release-control", crate::faults::router_port())
}

pub async fn stack(name: &str) -> Stack {
    assert_eq!(
        std::env::var("ROLLGATE_LOCAL_STACK").as_deref(),
        Ok("1"),
        "the local stack is not running; run `make test`, which starts it (scripts/local-stack.sh)"
    );
    let config = aws().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let store = DynamoStore::new(dynamodb.clone(), TABLE);
    if dynamodb.describe_table().table_name(TABLE).send().await.is_err() {
        // Another test may create it at the same moment; either way it exists afterwards.
        if let Err(e) = store.create_table().await {
            dynamodb.describe_table().table_name(TABLE).send().await.unwrap_or_else(|_| panic!("cannot create {TABLE}: {e}"));
        }
    }
    let tokens = rollgate::adapters::task_tokens::DynamoTaskTokens::new(dynamodb.clone(), TOKEN_TABLE);
    if dynamodb.describe_table().table_name(TOKEN_TABLE).send().await.is_err()
        && let Err(e) = tokens.create_table().await
    {
        dynamodb.describe_table().table_name(TOKEN_TABLE).send().await.unwrap_or_else(|_| panic!("cannot create {TOKEN_TABLE}: {e}"));
    }
    let subscription_name = format!("{name}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let subscription = fixtures::topic_with_queue(&config, TOPIC, &subscription_name).await;
    let alarms = fixtures::topic_with_queue(&config, ALARM_TOPIC, &format!("{subscription_name}-alarms")).await;
    let definition = std::fs::read_to_string(crate::repo().join("infra/statemachine/release.asl.json")).unwrap_or_default();
    let definition = [
        ("ChecklistValidatorFunctionArn", "checklist-validator"),
        ("ApprovalRequestFunctionArn", "approval-request"),
        ("TrafficSwitchFunctionArn", "traffic-switch"),
        ("MetricGateFunctionArn", "metric-gate"),
        ("RollbackNotifierFunctionArn", "rollback-notifier"),
    ]
    .iter()
    .fold(definition, |d, (key, function)| {
        d.replace(&format!("${{{key}}}"), &format!("arn:aws:lambda:us-east-1:123456789012:function:{function}"))
    })
    .replace("${AlarmTopicArn}", &alarms.topic_arn);
    let sfn = aws_sdk_sfn::Client::new(&config);
    let created = sfn
        .create_state_machine()
        .name(format!("rollgate-{subscription_name}"))
        .definition(definition)
        .role_arn("arn:aws:iam::123456789012:role/rollgate-state-machine")
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateStateMachine: {e:?}"));
    let operator = crate::fixtures::iam_user(&config, &format!("operator-{subscription_name}")).await;
    Stack {
        operator,
        config,
        store,
        sfn,
        state_machine: created.state_machine_arn().to_string(),
        queue_url: subscription.queue_url,
        alarm_queue_url: alarms.queue_url,
    }
}
