//! The router of the traffic section: where weights are set.

use super::{Issues, check_at_most, limits};
use crate::domain::duration::HumanDuration;
use crate::domain::plan::RouterSpec;

pub(super) fn check_router(router: &RouterSpec, issues: &mut Issues) {
    let path = "traffic.router";
    match router {
        RouterSpec::LambdaAlias { function_name, alias } => {
            if function_name.trim().is_empty() {
                issues.add(format!("{path}.function_name"), "is empty", "name the Lambda function (name or ARN)");
            }
            if alias.trim().is_empty() || alias == "$LATEST" {
                issues.add(
                    format!("{path}.alias"),
                    format!("`{alias}` cannot carry weights"),
                    "name the alias callers invoke, e.g. `live`",
                );
            }
        }
        RouterSpec::Alb { listener_arn, rule_arn, stable_target_group_arn, canary_target_group_arn } => {
            for (field, arn) in [
                ("listener_arn", Some(listener_arn)),
                ("rule_arn", rule_arn.as_ref()),
                ("stable_target_group_arn", Some(stable_target_group_arn)),
                ("canary_target_group_arn", Some(canary_target_group_arn)),
            ] {
                if let Some(arn) = arn
                    && !arn.starts_with("arn:")
                {
                    issues.add(
                        format!("{path}.{field}"),
                        format!("`{arn}` is not an ARN"),
                        "copy the ARN from the console or `aws elbv2 describe-*`",
                    );
                }
            }
            if stable_target_group_arn == canary_target_group_arn {
                issues.add(
                    format!("{path}.canary_target_group_arn"),
                    "is the stable target group",
                    "point it at the target group of the new version",
                );
            }
        }
        RouterSpec::Webhook { url, secret_arn, secret_env, timeout } => {
            check_webhook_url(&format!("{path}.url"), url, issues);
            if secret_env.is_some() {
                issues.add(
                    format!("{path}.secret_env"),
                    "`secret_env` is no longer supported (the signing key no longer comes from an environment variable)",
                    "store the signing key in AWS Secrets Manager (plain text) and give its ARN as `secret_arn`",
                );
            }
            if secret_arn.trim().is_empty() {
                if secret_env.is_none() {
                    issues.add(
                        format!("{path}.secret_arn"),
                        "is missing",
                        "give the ARN of the Secrets Manager secret holding the signing key, \
                         e.g. `arn:aws:secretsmanager:us-east-1:123456789012:secret:rollgate/webhook/checkout`",
                    );
                }
            } else if !is_secret_arn(secret_arn) {
                issues.add(
                    format!("{path}.secret_arn"),
                    format!("`{secret_arn}` is not a Secrets Manager secret ARN"),
                    "copy the secret's ARN (`arn:aws:secretsmanager:<region>:<account>:secret:<name>`) from the console or `aws secretsmanager describe-secret`",
                );
            }
            if timeout.is_some_and(HumanDuration::is_zero) {
                issues.add(format!("{path}.timeout"), "is 0s", "give a timeout such as 10s");
            }
            if let Some(timeout) = *timeout {
                let fix = "the traffic-switch function runs at most 60s; give a timeout such as 10s";
                check_at_most(timeout, limits::WEBHOOK_TIMEOUT, &format!("{path}.timeout"), "a router call may take", fix, issues);
            }
        }
        RouterSpec::DryRun {} => {}
    }
}

/// A webhook URL is `https://`, or `http://` to a loopback host (which the router still refuses
/// unless a test turns on `ROLLGATE_ALLOW_INSECURE_LOOPBACK_WEBHOOK`); no credentials in it. The
/// addresses the host resolves to are checked by the router when it calls, after resolution.
pub(super) fn check_webhook_url(path: &str, url: &str, issues: &mut Issues) {
    let Some((scheme, rest)) = url.split_once("://") else {
        issues.add(path, format!("`{url}` is not a URL"), "give the endpoint's https URL, e.g. `https://deploy.example.com/rollgate`");
        return;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        issues.add(path, "carries credentials (`user@` or `user:password@`)", "remove them; the request is authenticated by its signature");
    }
    let host = authority.rsplit('@').next().unwrap_or_default();
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.split(':').next().unwrap_or_default(),
    };
    if host.is_empty() {
        issues.add(path, format!("`{url}` names no host"), "give the endpoint's https URL, e.g. `https://deploy.example.com/rollgate`");
        return;
    }
    let loopback = host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    match scheme.to_ascii_lowercase().as_str() {
        "https" => {}
        "http" if loopback => {}
        _ => issues.add(
            path,
            format!("`{url}` is not an https URL"),
            "use https; plain http is refused (only tests reach a loopback http endpoint)",
        ),
    }
}

/// `arn:<partition>:secretsmanager:<region>:<account>:secret:<name>`.
pub(super) fn is_secret_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(7, ':').collect();
    matches!(parts.as_slice(), ["arn", partition, "secretsmanager", region, account, "secret", name]
        if !partition.is_empty() && !region.is_empty() && !account.is_empty() && !name.trim().is_empty())
}
