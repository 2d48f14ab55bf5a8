//! AWS resources the routers and the notifier act on, created on the test endpoint with the
//! same SDK clients a team would use.

use aws_sdk_elasticloadbalancingv2::types::{Action, ActionTypeEnum, ProtocolEnum};

/// A Lambda function with versions "1" and "2" and an alias `live` on version 1.
pub async fn lambda_with_two_versions(config: &aws_config::SdkConfig, name: &str) -> (String, String) {
    let iam = aws_sdk_iam::Client::new(config);
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    let role = iam
        .create_role()
        .role_name(format!("{name}-role"))
        .assume_role_policy_document(trust)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateRole: {e:?}"));
    let role_arn = role.role().map(|r| r.arn().to_string()).unwrap_or_default();
    let lambda = aws_sdk_lambda::Client::new(config);
    let code = |text: &str| aws_sdk_lambda::primitives::Blob::new(zip_with_one_file("bootstrap", text.as_bytes()));
    lambda
        .create_function()
        .function_name(name)
        .runtime(aws_sdk_lambda::types::Runtime::Providedal2023)
        .role(&role_arn)
        .handler("bootstrap")
        .code(aws_sdk_lambda::types::FunctionCode::builder().zip_file(code("#!/bin/sh\necho v1\n")).build())
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateFunction: {e:?}"));
    let v1 = lambda.publish_version().function_name(name).send().await.unwrap_or_else(|e| panic!("PublishVersion: {e:?}"));
    lambda
        .update_function_code()
        .function_name(name)
        .zip_file(code("#!/bin/sh\necho v2\n"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("UpdateFunctionCode: {e:?}"));
    let v2 = lambda.publish_version().function_name(name).send().await.unwrap_or_else(|e| panic!("PublishVersion: {e:?}"));
    let (v1, v2) = (v1.version().unwrap_or_default().to_string(), v2.version().unwrap_or_default().to_string());
    assert_ne!(v1, v2, "two distinct versions");
    lambda
        .create_alias()
        .function_name(name)
        .name("live")
        .function_version(&v1)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateAlias: {e:?}"));
    (v1, v2)
}

/// The alias's target version and its additional weights.
pub async fn alias_routing(config: &aws_config::SdkConfig, name: &str) -> (String, Vec<(String, f64)>) {
    let alias = aws_sdk_lambda::Client::new(config)
        .get_alias()
        .function_name(name)
        .name("live")
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetAlias: {e:?}"));
    let mut weights: Vec<(String, f64)> = alias
        .routing_config()
        .and_then(|r| r.additional_version_weights())
        .map(|w| w.iter().map(|(k, v)| (k.clone(), *v)).collect())
        .unwrap_or_default();
    weights.sort_by(|a, b| a.0.cmp(&b.0));
    (alias.function_version().unwrap_or_default().to_string(), weights)
}

pub struct Alb {
    pub listener_arn: String,
    pub blue: String,
    pub green: String,
}

/// A load balancer with a listener forwarding to the blue target group; green waits.
pub async fn alb_blue_green(config: &aws_config::SdkConfig, name: &str) -> Alb {
    let ec2 = aws_sdk_ec2::Client::new(config);
    let vpc = ec2.create_vpc().cidr_block("10.20.0.0/16").send().await.unwrap_or_else(|e| panic!("CreateVpc: {e:?}"));
    let vpc_id = vpc.vpc().and_then(|v| v.vpc_id()).unwrap_or_default().to_string();
    let mut subnets = Vec::new();
    for (cidr, zone) in [("10.20.1.0/24", "us-east-1a"), ("10.20.2.0/24", "us-east-1b")] {
        let subnet = ec2
            .create_subnet()
            .vpc_id(&vpc_id)
            .cidr_block(cidr)
            .availability_zone(zone)
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateSubnet: {e:?}"));
        subnets.push(subnet.subnet().and_then(|s| s.subnet_id()).unwrap_or_default().to_string());
    }
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(config);
    let lb = elb
        .create_load_balancer()
        .name(name)
        .set_subnets(Some(subnets))
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateLoadBalancer: {e:?}"));
    let lb_arn = lb.load_balancers().first().and_then(|l| l.load_balancer_arn()).unwrap_or_default().to_string();
    let mut groups = Vec::new();
    for color in ["blue", "green"] {
        let tg = elb
            .create_target_group()
            .name(format!("{name}-{color}"))
            .protocol(ProtocolEnum::Http)
            .port(80)
            .vpc_id(&vpc_id)
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateTargetGroup: {e:?}"));
        groups.push(tg.target_groups().first().and_then(|t| t.target_group_arn()).unwrap_or_default().to_string());
    }
    let forward = Action::builder().r#type(ActionTypeEnum::Forward).target_group_arn(&groups[0]).build();
    let listener = elb
        .create_listener()
        .load_balancer_arn(&lb_arn)
        .protocol(ProtocolEnum::Http)
        .port(80)
        .default_actions(forward)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateListener: {e:?}"));
    let listener_arn = listener.listeners().first().and_then(|l| l.listener_arn()).unwrap_or_default().to_string();
    Alb { listener_arn, blue: groups[0].clone(), green: groups[1].clone() }
}

/// (blue weight, green weight) of the listener's forward action.
pub async fn listener_weights(config: &aws_config::SdkConfig, alb: &Alb) -> (i32, i32) {
    let out = aws_sdk_elasticloadbalancingv2::Client::new(config)
        .describe_listeners()
        .listener_arns(&alb.listener_arn)
        .send()
        .await
        .unwrap_or_else(|e| panic!("DescribeListeners: {e:?}"));
    let groups: Vec<_> = out
        .listeners()
        .iter()
        .flat_map(|l| l.default_actions())
        .filter_map(|a| a.forward_config())
        .flat_map(|f| f.target_groups())
        .map(|g| (g.target_group_arn().unwrap_or_default().to_string(), g.weight().unwrap_or(0)))
        .collect();
    let weight = |arn: &str| groups.iter().find(|(a, _)| a == arn).map_or(0, |(_, w)| *w);
    (weight(&alb.blue), weight(&alb.green))
}

pub struct Subscription {
    pub topic_arn: String,
    pub queue_url: String,
}

/// A topic (created if needed) with a new SQS queue subscribed to it.
pub async fn topic_with_queue(config: &aws_config::SdkConfig, topic: &str, queue: &str) -> Subscription {
    let sns = aws_sdk_sns::Client::new(config);
    let sqs = aws_sdk_sqs::Client::new(config);
    let topic_arn = sns
        .create_topic()
        .name(topic)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateTopic: {e:?}"))
        .topic_arn()
        .unwrap_or_default()
        .to_string();
    let queue_url = sqs
        .create_queue()
        .queue_name(queue)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateQueue: {e:?}"))
        .queue_url()
        .unwrap_or_default()
        .to_string();
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetQueueAttributes: {e:?}"));
    let queue_arn =
        attributes.attributes().and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)).cloned().unwrap_or_default();
    sns.subscribe().topic_arn(&topic_arn).protocol("sqs").endpoint(queue_arn).send().await.unwrap_or_else(|e| panic!("Subscribe: {e:?}"));
    Subscription { topic_arn, queue_url }
}

/// The SNS envelopes that reached the queue.
pub async fn received(config: &aws_config::SdkConfig, queue_url: &str) -> Vec<serde_json::Value> {
    let sqs = aws_sdk_sqs::Client::new(config);
    let out = sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap_or_else(|e| panic!("ReceiveMessage: {e:?}"));
    out.messages().iter().filter_map(|m| m.body()).filter_map(|b| serde_json::from_str(b).ok()).collect()
}

/// A zip archive holding one stored (uncompressed) file.
pub fn zip_with_one_file(name: &str, data: &[u8]) -> Vec<u8> {
    let crc = crc32(data);
    let (name_len, size) = (name.len() as u16, data.len() as u32);
    let mut out = Vec::new();
    let put16 = |out: &mut Vec<u8>, v: u16| out.extend_from_slice(&v.to_le_bytes());
    out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
    for v in [20u16, 0, 0, 0, 0x21] {
        put16(&mut out, v);
    }
    for v in [crc, size, size] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    put16(&mut out, name_len);
    put16(&mut out, 0);
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(data);
    let central_at = out.len() as u32;
    out.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
    for v in [20u16, 20, 0, 0, 0, 0x21] {
        put16(&mut out, v);
    }
    for v in [crc, size, size] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for v in [name_len, 0, 0, 0, 0] {
        put16(&mut out, v);
    }
    out.extend_from_slice(&0o100755u32.wrapping_shl(16).to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(name.as_bytes());
    let central_size = out.len() as u32 - central_at;
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    for v in [0u16, 0, 1, 1] {
        put16(&mut out, v);
    }
    out.extend_from_slice(&central_size.to_le_bytes());
    out.extend_from_slice(&central_at.to_le_bytes());
    put16(&mut out, 0);
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// Puts one `Latency` datapoint a minute for the 15 minutes before `now` (stamped 20s into each
/// minute), with `value(i)` for the i-th minute back. The emulator drops the namespace filter
/// when a query has dimensions, so callers add a per-run dimension to keep tests apart.
pub async fn put_latency(
    config: &aws_config::SdkConfig,
    namespace: &str,
    dimensions: &[(&str, &str)],
    now: chrono::DateTime<chrono::Utc>,
    value: impl Fn(i64) -> f64,
) {
    use aws_sdk_cloudwatch::primitives::DateTime as SmithyDateTime;
    use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
    let data: Vec<MetricDatum> = (0..15)
        .map(|i| {
            let at = now - chrono::Duration::minutes(i) - chrono::Duration::seconds(20);
            let mut datum =
                MetricDatum::builder().metric_name("Latency").timestamp(SmithyDateTime::from_millis(at.timestamp_millis())).value(value(i));
            for (name, dimension) in dimensions {
                datum = datum.dimensions(Dimension::builder().name(*name).value(*dimension).build());
            }
            datum.build()
        })
        .collect();
    aws_sdk_cloudwatch::Client::new(config)
        .put_metric_data()
        .namespace(namespace)
        .set_metric_data(Some(data))
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutMetricData: {e:?}"));
}

/// Credentials of an AWS identity made on the test endpoint: what a person would put in their
/// environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN).
#[derive(Clone, Debug)]
pub struct Person {
    /// The ARN STS reports for them.
    pub arn: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl Person {
    /// The environment a command run as this person gets.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![("AWS_ACCESS_KEY_ID", self.access_key_id.clone()), ("AWS_SECRET_ACCESS_KEY", self.secret_access_key.clone())];
        if let Some(token) = &self.session_token {
            env.push(("AWS_SESSION_TOKEN", token.clone()));
        }
        env
    }
}

/// An IAM user `name` with an access key.
pub async fn iam_user(config: &aws_config::SdkConfig, name: &str) -> Person {
    let iam = aws_sdk_iam::Client::new(config);
    let user = iam.create_user().user_name(name).send().await.unwrap_or_else(|e| panic!("CreateUser: {e:?}"));
    let key = iam.create_access_key().user_name(name).send().await.unwrap_or_else(|e| panic!("CreateAccessKey: {e:?}"));
    let key = key.access_key().unwrap_or_else(|| panic!("CreateAccessKey answered without a key"));
    Person {
        arn: user.user().map(|u| u.arn().to_string()).unwrap_or_default(),
        access_key_id: key.access_key_id().to_string(),
        secret_access_key: key.secret_access_key().to_string(),
        session_token: None,
    }
}

/// A session of role `role` (made if missing) named `session`, as SSO or a CI role gives one.
/// Returns the person and the role's ARN.
pub async fn role_session(config: &aws_config::SdkConfig, role: &str, session: &str) -> (Person, String) {
    let iam = aws_sdk_iam::Client::new(config);
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}"#;
    let made = iam.create_role().role_name(role).assume_role_policy_document(trust).send().await;
    let role_arn = match made {
        Ok(made) => made.role().map(|r| r.arn().to_string()).unwrap_or_default(),
        Err(_) => iam.get_role().role_name(role).send().await.ok().and_then(|r| r.role().map(|r| r.arn().to_string())).unwrap_or_default(),
    };
    let assumed = aws_sdk_sts::Client::new(config)
        .assume_role()
        .role_arn(&role_arn)
        .role_session_name(session)
        .send()
        .await
        .unwrap_or_else(|e| panic!("AssumeRole: {e:?}"));
    let credentials = assumed.credentials().unwrap_or_else(|| panic!("AssumeRole answered without credentials"));
    let person = Person {
        arn: assumed.assumed_role_user().map(|u| u.arn().to_string()).unwrap_or_default(),
        access_key_id: credentials.access_key_id().to_string(),
        secret_access_key: credentials.secret_access_key().to_string(),
        session_token: Some(credentials.session_token().to_string()),
    };
    (person, role_arn)
}

/// A metric alarm `name` on `namespace`'s Errors (more than 5 in a minute), in its initial state.
pub async fn metric_alarm(config: &aws_config::SdkConfig, name: &str, namespace: &str) {
    use aws_sdk_cloudwatch::types::{ComparisonOperator, Statistic};
    aws_sdk_cloudwatch::Client::new(config)
        .put_metric_alarm()
        .alarm_name(name)
        .namespace(namespace)
        .metric_name("Errors")
        .statistic(Statistic::Sum)
        .period(60)
        .evaluation_periods(1)
        .threshold(5.0)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutMetricAlarm: {e:?}"));
}

/// Sets alarm `name` to `state` with CloudWatch's `reason`.
pub async fn set_alarm_state(config: &aws_config::SdkConfig, name: &str, state: aws_sdk_cloudwatch::types::StateValue, reason: &str) {
    aws_sdk_cloudwatch::Client::new(config)
        .set_alarm_state()
        .alarm_name(name)
        .state_value(state)
        .state_reason(reason)
        .send()
        .await
        .unwrap_or_else(|e| panic!("SetAlarmState: {e:?}"));
}
