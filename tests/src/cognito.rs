//! Amazon Cognito user pools in moto, for tests that need real Cognito tokens: a pool with
//! an app client (and a second client that services do not allow), a customer user and a
//! staff user with permanent passwords, and sign-in for RS256 access and ID tokens that carry
//! the real AWS issuer form.
//!
//! moto signs every pool's tokens with one fixed key (`kid` `dummy`) and serves it at
//! `<endpoint>/<pool-id>/.well-known/jwks.json`, while the tokens' `iss` is
//! `https://cognito-idp.<region>.amazonaws.com/<pool-id>`: the issuer and the JWKS URL are
//! therefore separate settings of the services (`AUTH_ISSUER`, `AUTH_JWKS_URL`), and
//! [`CognitoPool::auth_env`] gives both.

use anyhow::{Context, anyhow};
use aws_sdk_cognitoidentityprovider::Client;
use aws_sdk_cognitoidentityprovider::config::Credentials;
use aws_sdk_cognitoidentityprovider::types::{
    AttributeDataType, AttributeType, AuthFlowType, ExplicitAuthFlowsType, MessageActionType,
    SchemaAttributeType,
};

use crate::moto::{Moto, REGION};

/// The customer user: signs in with [`PASSWORD`], in no group.
pub const CUSTOMER_USERNAME: &str = "customer-001";
/// The staff user: signs in with [`PASSWORD`], member of [`STAFF_GROUP`].
pub const STAFF_USERNAME: &str = "staff-001";
/// The permanent password of every user the harness creates.
pub const PASSWORD: &str = "Correct-Horse-Battery-42!";
/// The group that marks support staff.
pub const STAFF_GROUP: &str = "staff";
/// The custom attribute linking a user to a customer of the demo data set (it appears in ID
/// tokens as a claim of the same name).
pub const CUSTOMER_ID_ATTRIBUTE: &str = "custom:customer_id";
/// The demo-data customer the customer user is.
pub const CUSTOMER_ID: &str = "CUST-001";

/// The tokens of one sign-in.
#[derive(Debug, Clone)]
pub struct Tokens {
    /// RS256 access token (`token_use: access`, `client_id`, `username`, `cognito:groups`).
    pub access_token: String,
    /// RS256 ID token (`token_use: id`, `aud`, `cognito:username`, user attributes).
    pub id_token: String,
}

/// A user pool in moto with two app clients and the two users.
pub struct CognitoPool {
    client: Client,
    /// The pool id (longer than real ones in moto).
    pub pool_id: String,
    /// The `iss` of the pool's tokens: `https://cognito-idp.<region>.amazonaws.com/<pool-id>`.
    pub issuer: String,
    /// Where moto serves the pool's signing keys.
    pub jwks_url: String,
    /// The app client services allow.
    pub client_id: String,
    /// A second app client of the same pool, which services do not allow.
    pub other_client_id: String,
}

/// A Cognito client for moto, with dummy credentials.
pub async fn client(moto: &Moto) -> Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .endpoint_url(&moto.endpoint)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
        .load()
        .await;
    Client::new(&config)
}

impl CognitoPool {
    /// Creates the pool (with the `customer_id` custom attribute), the two app clients, the
    /// `staff` group, the customer user (with [`CUSTOMER_ID_ATTRIBUTE`] = [`CUSTOMER_ID`]) and
    /// the staff user.
    pub async fn create(moto: &Moto) -> anyhow::Result<Self> {
        Self::create_named(moto, "support-users").await
    }

    /// Like [`CognitoPool::create`], with a pool name of the caller's choice (for tests
    /// that need a second pool, i.e. another issuer).
    pub async fn create_named(moto: &Moto, pool_name: &str) -> anyhow::Result<Self> {
        let client = client(moto).await;
        let pool = client
            .create_user_pool()
            .pool_name(pool_name)
            .schema(
                SchemaAttributeType::builder()
                    .name("customer_id")
                    .attribute_data_type(AttributeDataType::String)
                    .mutable(true)
                    .build(),
            )
            .send()
            .await
            .context("CreateUserPool")?;
        let pool_id = pool
            .user_pool()
            .and_then(|pool| pool.id())
            .ok_or_else(|| anyhow!("CreateUserPool returned no pool id"))?
            .to_owned();

        let client_id = create_app_client(&client, &pool_id, "support-app").await?;
        let other_client_id = create_app_client(&client, &pool_id, "other-app").await?;
        let pool = Self {
            issuer: format!("https://cognito-idp.{REGION}.amazonaws.com/{pool_id}"),
            jwks_url: format!("{}/{pool_id}/.well-known/jwks.json", moto.endpoint),
            client,
            pool_id,
            client_id,
            other_client_id,
        };

        pool.client
            .create_group()
            .user_pool_id(&pool.pool_id)
            .group_name(STAFF_GROUP)
            .send()
            .await
            .context("CreateGroup")?;
        pool.create_user(
            CUSTOMER_USERNAME,
            &[
                ("email", "customer-001@example.com"),
                (CUSTOMER_ID_ATTRIBUTE, CUSTOMER_ID),
            ],
            &[],
        )
        .await?;
        pool.create_user(
            STAFF_USERNAME,
            &[("email", "staff-001@example.com")],
            &[STAFF_GROUP],
        )
        .await?;
        Ok(pool)
    }

    /// The Cognito client the pool was made with, for further set-up.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Creates a confirmed user with the permanent password [`PASSWORD`] (AdminCreateUser,
    /// then AdminSetUserPassword), the given attributes, in the given groups.
    pub async fn create_user(
        &self,
        username: &str,
        attributes: &[(&str, &str)],
        groups: &[&str],
    ) -> anyhow::Result<()> {
        let mut request = self
            .client
            .admin_create_user()
            .user_pool_id(&self.pool_id)
            .username(username)
            .temporary_password("Temporary-Password-1!")
            .message_action(MessageActionType::Suppress);
        for (name, value) in attributes {
            request = request.user_attributes(
                AttributeType::builder()
                    .name(*name)
                    .value(*value)
                    .build()
                    .context("user attribute")?,
            );
        }
        request
            .send()
            .await
            .with_context(|| format!("AdminCreateUser {username}"))?;
        self.client
            .admin_set_user_password()
            .user_pool_id(&self.pool_id)
            .username(username)
            .password(PASSWORD)
            .permanent(true)
            .send()
            .await
            .with_context(|| format!("AdminSetUserPassword {username}"))?;
        for group in groups {
            self.client
                .admin_add_user_to_group()
                .user_pool_id(&self.pool_id)
                .username(username)
                .group_name(*group)
                .send()
                .await
                .with_context(|| format!("AdminAddUserToGroup {username} {group}"))?;
        }
        Ok(())
    }

    /// Signs a user in through an app client with ADMIN_USER_PASSWORD_AUTH.
    pub async fn sign_in(&self, username: &str, client_id: &str) -> anyhow::Result<Tokens> {
        let answer = self
            .client
            .admin_initiate_auth()
            .user_pool_id(&self.pool_id)
            .client_id(client_id)
            .auth_flow(AuthFlowType::AdminUserPasswordAuth)
            .auth_parameters("USERNAME", username)
            .auth_parameters("PASSWORD", PASSWORD)
            .send()
            .await
            .with_context(|| format!("AdminInitiateAuth {username}"))?;
        let result = answer
            .authentication_result()
            .ok_or_else(|| anyhow!("AdminInitiateAuth {username}: no tokens (a challenge?)"))?;
        tokens(result.access_token(), result.id_token())
    }

    /// Signs a user in through an app client with USER_PASSWORD_AUTH, the flow a public
    /// client uses (no AWS credentials needed by the caller).
    pub async fn sign_in_with_user_password(
        &self,
        username: &str,
        client_id: &str,
    ) -> anyhow::Result<Tokens> {
        let answer = self
            .client
            .initiate_auth()
            .client_id(client_id)
            .auth_flow(AuthFlowType::UserPasswordAuth)
            .auth_parameters("USERNAME", username)
            .auth_parameters("PASSWORD", PASSWORD)
            .send()
            .await
            .with_context(|| format!("InitiateAuth {username}"))?;
        let result = answer
            .authentication_result()
            .ok_or_else(|| anyhow!("InitiateAuth {username}: no tokens (a challenge?)"))?;
        tokens(result.access_token(), result.id_token())
    }

    /// The customer user's tokens, from the allowed client.
    pub async fn customer_tokens(&self) -> anyhow::Result<Tokens> {
        self.sign_in(CUSTOMER_USERNAME, &self.client_id).await
    }

    /// The staff user's tokens, from the allowed client.
    pub async fn staff_tokens(&self) -> anyhow::Result<Tokens> {
        self.sign_in(STAFF_USERNAME, &self.client_id).await
    }

    /// A user's `sub`, as the pool reports it (AdminGetUser).
    pub async fn subject_of(&self, username: &str) -> anyhow::Result<String> {
        let user = self
            .client
            .admin_get_user()
            .user_pool_id(&self.pool_id)
            .username(username)
            .send()
            .await
            .with_context(|| format!("AdminGetUser {username}"))?;
        user.user_attributes()
            .iter()
            .find(|attribute| attribute.name() == "sub")
            .and_then(|attribute| attribute.value())
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("AdminGetUser {username}: no sub attribute"))
    }

    /// Another app client of the pool, with explicit attribute permissions
    /// (`ReadAttributes`, `WriteAttributes`), for tests that mirror a deployed client.
    pub async fn create_client_with_attributes(
        &self,
        name: &str,
        read: &[&str],
        write: &[&str],
    ) -> anyhow::Result<String> {
        create_app_client_with(&self.client, &self.pool_id, name, read, write).await
    }

    /// Links a user to a customer as an administrator does: AdminUpdateUserAttributes with
    /// [`CUSTOMER_ID_ATTRIBUTE`], the one way the deployed pool lets it be set.
    pub async fn link_customer(&self, username: &str, customer_id: &str) -> anyhow::Result<()> {
        self.client
            .admin_update_user_attributes()
            .user_pool_id(&self.pool_id)
            .username(username)
            .user_attributes(
                AttributeType::builder()
                    .name(CUSTOMER_ID_ATTRIBUTE)
                    .value(customer_id)
                    .build()
                    .context("user attribute")?,
            )
            .send()
            .await
            .with_context(|| format!("AdminUpdateUserAttributes {username}"))?;
        Ok(())
    }

    /// [`CognitoPool::auth_env`] for the agent as deployed: it takes ID tokens
    /// (`AUTH_TOKEN_USE=id`), the only Cognito tokens that carry [`CUSTOMER_ID_ATTRIBUTE`].
    pub fn agent_auth_env(&self) -> Vec<(String, String)> {
        let mut env = self.auth_env();
        env.push(("AUTH_TOKEN_USE".to_owned(), "id".to_owned()));
        env
    }

    /// The environment a service needs to verify this pool's tokens itself
    /// (`AUTH_MODE=verify`, the allowed client only; access tokens, the default).
    pub fn auth_env(&self) -> Vec<(String, String)> {
        [
            ("AUTH_MODE", "verify"),
            ("AUTH_ISSUER", self.issuer.as_str()),
            ("AUTH_JWKS_URL", self.jwks_url.as_str()),
            ("AUTH_ALLOWED_CLIENT_IDS", self.client_id.as_str()),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
    }
}

async fn create_app_client(client: &Client, pool_id: &str, name: &str) -> anyhow::Result<String> {
    create_app_client_with(client, pool_id, name, &[], &[]).await
}

/// An app client; empty attribute lists leave Cognito's defaults.
async fn create_app_client_with(
    client: &Client,
    pool_id: &str,
    name: &str,
    read: &[&str],
    write: &[&str],
) -> anyhow::Result<String> {
    let mut request = client
        .create_user_pool_client()
        .user_pool_id(pool_id)
        .client_name(name)
        .explicit_auth_flows(ExplicitAuthFlowsType::AllowAdminUserPasswordAuth)
        .explicit_auth_flows(ExplicitAuthFlowsType::AllowUserPasswordAuth)
        .explicit_auth_flows(ExplicitAuthFlowsType::AllowRefreshTokenAuth);
    for attribute in read {
        request = request.read_attributes(*attribute);
    }
    for attribute in write {
        request = request.write_attributes(*attribute);
    }
    let created = request
        .send()
        .await
        .with_context(|| format!("CreateUserPoolClient {name}"))?;
    created
        .user_pool_client()
        .and_then(|client| client.client_id())
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("CreateUserPoolClient {name}: no client id"))
}

fn tokens(access_token: Option<&str>, id_token: Option<&str>) -> anyhow::Result<Tokens> {
    Ok(Tokens {
        access_token: access_token
            .ok_or_else(|| anyhow!("sign-in returned no access token"))?
            .to_owned(),
        id_token: id_token
            .ok_or_else(|| anyhow!("sign-in returned no ID token"))?
            .to_owned(),
    })
}
