//! One scenario battery, run against every provider (TensorZero's
//! `generate_provider_tests!` idea): each scenario in scenarios.rs is
//! generic over [`provider::Provider`], and `generate_provider_tests!`
//! instantiates all of them for each provider, so a test is named
//! `<provider>::<scenario>` (`cargo test --test providers claude::`) and a
//! new provider gets the whole battery by adding one line.
//!
//! The server runs in-process; each provider has a mock that validates
//! requests the way the provider does and speaks its wire format.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../common/mod.rs"]
mod common;

mod provider;
mod scenarios;

/// Every scenario, once. A new scenario goes here and in scenarios.rs.
macro_rules! scenario_tests {
    ($p:ty) => {
        scenario_tests!($p;
            text,
            stream,
            tools,
            parallel_tools,
            images,
            thinking,
            cut_stream,
            idle_timeout,
            client_disconnect,
            usage,
            errors_401_next_key,
            errors_429_retry_after,
            errors_500_next_key,
            errors_400_invalid_request,
        );
    };
    ($p:ty; $($scenario:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $scenario() {
                crate::scenarios::$scenario::<$p>().await;
            }
        )+
    };
}

/// One module of tests per provider.
macro_rules! generate_provider_tests {
    ($($name:ident => $p:ty),+ $(,)?) => {
        $(
            mod $name {
                scenario_tests!($p);
            }
        )+
    };
}

generate_provider_tests! {
    openai => crate::provider::OpenAi,
    openaiold => crate::provider::OpenAiOld,
    responses => crate::provider::Responses,
    gemini => crate::provider::Gemini,
    claude => crate::provider::Claude,
}
