//! Cognito sign-in: `login` (user name and password, `USER_PASSWORD_AUTH`), the refresh of an
//! expiring sign-in (`REFRESH_TOKEN_AUTH`) before a request, and `logout`.
//!
//! Both flows are `InitiateAuth` calls of a public app client, which need no AWS credentials;
//! the client is built without any, so no credential chain is searched and nothing is signed.
//! The endpoint follows the AWS SDK's rules, so `AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER`
//! points it elsewhere (moto in the tests). Refusals (wrong password, revoked refresh token)
//! are auth failures (exit code 3) and quote Cognito's own words, which never contain the
//! password or a token.

use std::io::{self, BufRead, Read, Write};
use std::time::Duration;

use agent_protocol::Secret;
use aws_config::BehaviorVersion;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_cognitoidentityprovider::Client;
use aws_sdk_cognitoidentityprovider::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_cognitoidentityprovider::operation::initiate_auth::{
    InitiateAuthError, InitiateAuthOutput,
};
use aws_sdk_cognitoidentityprovider::types::AuthFlowType;

use crate::config::{FileConfig, LoginArgs};
use crate::error::Failure;
use crate::tokens::{self, SignIn, TokenFile};

/// Longest wait for a connection to Cognito.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for a whole Cognito call, retries included.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(30);

/// `agent-cli login`: signs in and stores the tokens.
pub async fn login(args: &LoginArgs, file: &FileConfig, store: &TokenFile) -> Result<(), Failure> {
    let client_id = args
        .client_id
        .clone()
        .or_else(|| file.client_id.clone())
        .ok_or_else(|| {
            Failure::Usage(
                "no app client id: pass --client-id, set AGENT_CLI_CLIENT_ID, or put \"client_id\" in config.json".to_owned(),
            )
        })?;
    let region = args
        .region
        .clone()
        .or_else(|| file.region.clone())
        .ok_or_else(|| {
            Failure::Usage(
                "no region for the user pool: pass --region, set AWS_REGION, or put \"region\" in config.json".to_owned(),
            )
        })?;
    let username = match args.user.clone().or_else(|| file.username.clone()) {
        Some(username) => username,
        None if args.password_stdin => {
            return Err(Failure::Usage(
                "--password-stdin needs the user name from --user (standard input holds the password)".to_owned(),
            ));
        }
        None => ask_user_name()?,
    };
    let password = if args.password_stdin {
        password_from_stdin()?
    } else {
        rpassword::prompt_password(format!("Password for {username}: "))
            .map(Secret::new)
            .map_err(|error| {
                Failure::Usage(format!(
                    "cannot ask for the password ({error}); pipe it in with --password-stdin"
                ))
            })?
    };
    let cognito = Cognito::new(&region, &client_id).await;
    let sign_in = cognito.sign_in(&username, &password).await?;
    store.save(&sign_in)?;
    eprintln!(
        "Signed in as {username}. Tokens stored in {}; they are refreshed automatically until the sign-in ends.",
        store.path().display()
    );
    Ok(())
}

/// `agent-cli logout`: forgets the stored tokens.
pub fn logout(store: &TokenFile) -> Result<(), Failure> {
    if store.delete()? {
        eprintln!("Signed out: deleted {}.", store.path().display());
    } else {
        eprintln!("Not signed in (no {}).", store.path().display());
    }
    Ok(())
}

/// The stored sign-in, refreshed first when it is about to expire (and stored again).
pub async fn current_sign_in(store: &TokenFile) -> Result<SignIn, Failure> {
    let sign_in = store.load()?.ok_or_else(|| {
        Failure::Auth(
            "not signed in: run `agent-cli login` first (or pass --no-auth for a local agent started with AUTH_MODE=none)".to_owned(),
        )
    })?;
    if !sign_in.expires_soon(tokens::now()) {
        return Ok(sign_in);
    }
    let refreshed = Cognito::new(&sign_in.region, &sign_in.client_id)
        .await
        .refresh(&sign_in)
        .await?;
    store.save(&refreshed)?;
    Ok(refreshed)
}

/// Asks for the user name on stderr and reads it from stdin.
fn ask_user_name() -> Result<String, Failure> {
    eprint!("User name: ");
    io::stderr().flush().ok();
    let mut line = String::new();
    io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|error| Failure::Usage(format!("cannot read the user name: {error}")))?;
    let name = line.trim();
    if name.is_empty() {
        return Err(Failure::Usage(
            "no user name given: pass --user or type one".to_owned(),
        ));
    }
    Ok(name.to_owned())
}

/// The first line of stdin, without its line end.
fn password_from_stdin() -> Result<Secret, Failure> {
    let mut input = String::new();
    io::stdin()
        .read_to_string(&mut input)
        .map_err(|error| Failure::Usage(format!("cannot read the password from stdin: {error}")))?;
    let password = input.lines().next().unwrap_or_default();
    if password.is_empty() {
        return Err(Failure::Usage(
            "--password-stdin: standard input holds no password".to_owned(),
        ));
    }
    Ok(Secret::new(password.to_owned()))
}

/// Which `InitiateAuth` flow failed: a refused refresh means the sign-in has ended, a refused
/// sign-in means wrong credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    SignIn,
    Refresh,
}

impl Flow {
    fn action(self) -> &'static str {
        match self {
            Flow::SignIn => "sign-in",
            Flow::Refresh => "refreshing the sign-in",
        }
    }
}

/// A user pool app client.
struct Cognito {
    client: Client,
    client_id: String,
    region: String,
}

impl Cognito {
    async fn new(region: &str, client_id: &str) -> Self {
        let config = aws_config::defaults(BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_owned()))
            .no_credentials()
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .operation_timeout(OPERATION_TIMEOUT)
                    .build(),
            )
            .load()
            .await;
        Self {
            client: Client::new(&config),
            client_id: client_id.to_owned(),
            region: region.to_owned(),
        }
    }

    /// `USER_PASSWORD_AUTH`.
    async fn sign_in(&self, username: &str, password: &Secret) -> Result<SignIn, Failure> {
        let answer = self
            .client
            .initiate_auth()
            .client_id(&self.client_id)
            .auth_flow(AuthFlowType::UserPasswordAuth)
            .auth_parameters("USERNAME", username)
            .auth_parameters("PASSWORD", password.expose())
            .send()
            .await
            .map_err(|error| self.explain(error, Flow::SignIn))?;
        self.sign_in_from(answer, username, None)
    }

    /// `REFRESH_TOKEN_AUTH`, keeping the refresh token unless Cognito rotates it.
    async fn refresh(&self, previous: &SignIn) -> Result<SignIn, Failure> {
        let answer = self
            .client
            .initiate_auth()
            .client_id(&self.client_id)
            .auth_flow(AuthFlowType::RefreshTokenAuth)
            .auth_parameters("REFRESH_TOKEN", previous.refresh_token.expose())
            .send()
            .await
            .map_err(|error| self.explain(error, Flow::Refresh))?;
        self.sign_in_from(answer, &previous.username, Some(&previous.refresh_token))
    }

    /// The tokens of a successful answer; a challenge (new password, MFA) is not supported.
    fn sign_in_from(
        &self,
        answer: InitiateAuthOutput,
        username: &str,
        refresh_token: Option<&Secret>,
    ) -> Result<SignIn, Failure> {
        if let Some(challenge) = answer.challenge_name() {
            return Err(Failure::Auth(format!(
                "Cognito asks for a further step ({challenge}) that agent-cli cannot do. Complete it once elsewhere (e.g. set a new password in the user pool's hosted sign-in page), then run `agent-cli login` again."
            )));
        }
        let result = answer.authentication_result().ok_or_else(|| {
            Failure::Failed("Cognito answered the sign-in without tokens".to_owned())
        })?;
        let missing =
            |what: &str| Failure::Failed(format!("Cognito answered the sign-in without {what}"));
        let access_token = Secret::new(
            result
                .access_token()
                .ok_or_else(|| missing("an access token"))?
                .to_owned(),
        );
        let id_token = Secret::new(
            result
                .id_token()
                .ok_or_else(|| missing("an ID token"))?
                .to_owned(),
        );
        let refresh_token = match (result.refresh_token(), refresh_token) {
            (Some(token), _) => Secret::new(token.to_owned()),
            (None, Some(previous)) => previous.clone(),
            (None, None) => return Err(missing("a refresh token")),
        };
        let expires_in = u64::try_from(result.expires_in()).unwrap_or_default();
        let expires_at = tokens::expiry(tokens::now(), expires_in, &[&access_token, &id_token]);
        Ok(SignIn {
            client_id: self.client_id.clone(),
            region: self.region.clone(),
            username: username.to_owned(),
            access_token,
            id_token,
            refresh_token,
            expires_at,
        })
    }

    /// A failed `InitiateAuth`, in plain words.
    fn explain(&self, error: SdkError<InitiateAuthError>, flow: Flow) -> Failure {
        let action = flow.action();
        let service_error = match &error {
            SdkError::ServiceError(service) => service.err(),
            SdkError::TimeoutError(_) => {
                return Failure::Failed(format!(
                    "{action} failed: Cognito in {} did not answer within {} s; check your network",
                    self.region,
                    OPERATION_TIMEOUT.as_secs()
                ));
            }
            SdkError::DispatchFailure(_) => {
                return Failure::Failed(format!(
                    "{action} failed: cannot reach Cognito in {} ({}); check your network and the region",
                    self.region,
                    DisplayErrorContext(&error)
                ));
            }
            _ => {
                return Failure::Failed(format!(
                    "{action} failed: {}",
                    DisplayErrorContext(&error)
                ));
            }
        };
        let said = service_error.message().unwrap_or("no details");
        match service_error {
            InitiateAuthError::NotAuthorizedException(_) if flow == Flow::Refresh => {
                Failure::Auth(format!(
                    "your sign-in has ended (Cognito: {said}); sign in again with `agent-cli login`"
                ))
            }
            InitiateAuthError::NotAuthorizedException(_)
            | InitiateAuthError::UserNotFoundException(_) => {
                Failure::Auth(format!("sign-in refused by Cognito: {said}"))
            }
            InitiateAuthError::PasswordResetRequiredException(_) => Failure::Auth(format!(
                "Cognito requires a password reset for this user ({said}); reset it, then sign in again"
            )),
            InitiateAuthError::UserNotConfirmedException(_) => Failure::Auth(format!(
                "this user is not confirmed yet ({said}); confirm the account, then sign in again"
            )),
            InitiateAuthError::ResourceNotFoundException(_) => Failure::Usage(format!(
                "Cognito in {} has no app client {} ({said}); check --client-id and --region",
                self.region, self.client_id
            )),
            InitiateAuthError::InvalidParameterException(_) => Failure::Usage(format!(
                "Cognito refused the {action} request ({said}); the app client {} must allow the USER_PASSWORD_AUTH and REFRESH_TOKEN_AUTH flows and have no client secret",
                self.client_id
            )),
            InitiateAuthError::TooManyRequestsException(_) => Failure::Failed(format!(
                "{action} failed: Cognito is throttling requests ({said}); try again in a minute"
            )),
            _ => Failure::Failed(format!(
                "{action} failed: Cognito answered {}: {said}",
                service_error.code().unwrap_or("an error")
            )),
        }
    }
}
