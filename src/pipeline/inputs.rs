//! Every task input, named once. `task/task.json` must declare exactly these names with these
//! types and defaults; `tests/task_json.rs` checks it.

/// The type of an input as task.json declares it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    String,
    MultiLine,
    Boolean,
    FilePath,
    PickList(&'static [&'static str]),
    Connection(&'static str),
}

#[derive(Clone, Copy, Debug)]
pub struct InputDef {
    pub name: &'static str,
    pub kind: Kind,
    /// The task.json `defaultValue` ("" when none).
    pub default: &'static str,
    /// Holds a secret: masked the moment it is read.
    pub secret: bool,
}

macro_rules! inputs {
    ($( $(#[$doc:meta])* $konst:ident = $name:literal : $kind:expr, default $default:literal $(, $secret:ident)? ;)*) => {
        $( $(#[$doc])* pub const $konst: &str = $name; )*
        /// All inputs, in task.json order.
        pub const ALL: &[InputDef] = &[
            $( InputDef { name: $name, kind: $kind, default: $default, secret: inputs!(@secret $($secret)?) }, )*
        ];
    };
    (@secret secret) => { true };
    (@secret) => { false };
}

pub const TARGETS: &[&str] = &[
    "ververica",
    "hdinsight",
    "flink",
    "ververicaOperator",
    "flinkOperator",
];
pub const ACTIONS: &[&str] = &[
    "deploy",
    "suspend",
    "cancel",
    "resume",
    "savepoint",
    "listSavepoints",
    "delete",
    "validate",
    "renderCustomResource",
];
pub const UPGRADE_STRATEGIES: &[&str] = &["", "STATEFUL", "STATELESS", "NONE"];
pub const RESTORE_STRATEGIES: &[&str] = &["", "LATEST_STATE", "LATEST_SAVEPOINT", "NONE"];
pub const RESTART_MODES: &[&str] = &["ifChanged", "always", "never"];
pub const SYNCING_MODES: &[&str] = &["PATCH", "PUT"];
pub const FLINK_AUTH: &[&str] = &["none", "basic", "bearer"];
/// As Microsoft's `KubernetesManifest@1` names them.
pub const CONNECTION_TYPES: &[&str] = &["azureResourceManager", "kubernetesServiceConnection"];
/// The Ververica Platform major version whose operator reads the `VvpDeployment`.
pub const VVP_OPERATOR_VERSIONS: &[&str] = &["", "2", "3"];
/// The Apache Flink Kubernetes Operator's resources this task applies.
pub const FLINK_RESOURCE_KINDS: &[&str] = &["", "FlinkDeployment", "FlinkSessionJob"];
/// With several spec files: whether the other deployments go on after one fails.
pub const ON_FAILURE_MODES: &[&str] = &["continue", "stop"];
/// With several spec files: what `rollbackOnFailure` rolls back.
pub const ROLLBACK_SCOPES: &[&str] = &["deployment", "all"];
/// The targets that read `specFile`, and so take several of them (one deployment each). The
/// `visibleRule` of `specFile` in task.json names the same targets (`tests/task_json.rs`).
pub const SPEC_FILE_TARGETS: &[&str] = &["ververica", "ververicaOperator", "flinkOperator"];

use Kind::*;

inputs! {
    /// Where to deploy: `ververica`, `hdinsight`, `flink` or `ververicaOperator`.
    TARGET = "target": PickList(TARGETS), default "ververica";
    /// What to do with the deployment.
    ACTION = "action": PickList(ACTIONS), default "deploy";

    /// Azure Resource Manager service connection (Key Vault, Blob Storage, HDInsight, AKS).
    AZURE_SUBSCRIPTION = "azureSubscription": Connection("AzureRM"), default "";

    /// How the task signs in to a Kubernetes cluster (`Kubernetes@1`/`KubernetesManifest@1`).
    CONNECTION_TYPE = "connectionType": PickList(CONNECTION_TYPES), default "kubernetesServiceConnection";
    /// A Kubernetes service connection (alias `kubernetesServiceConnection`).
    KUBERNETES_SERVICE_ENDPOINT = "kubernetesServiceEndpoint": Connection("kubernetes"), default "";
    /// The AKS cluster's resource group (with `connectionType: azureResourceManager`).
    AZURE_RESOURCE_GROUP = "azureResourceGroup": String, default "";
    /// The AKS cluster's name.
    KUBERNETES_CLUSTER = "kubernetesCluster": String, default "";
    /// Sign in with the cluster's admin credential instead of the user credential.
    USE_CLUSTER_ADMIN = "useClusterAdmin": Boolean, default "false";
    /// The Kubernetes namespace (of the `VvpDeployment`, or of `vvpService` when it names none).
    NAMESPACE = "namespace": String, default "";

    /// The contributed Ververica Platform service connection (URL + API token).
    VVP_CONNECTION = "vvpConnection": Connection("ververica-platform"), default "";
    /// Ververica Platform URL when no service connection is used.
    VVP_URL = "vvpUrl": String, default "";
    /// Ververica Platform API token (pass a secret variable).
    VVP_API_TOKEN = "vvpApiToken": String, default "", secret;
    /// Name of the Key Vault secret that holds the API token.
    VVP_API_TOKEN_SECRET = "vvpApiTokenSecret": String, default "";
    /// Ververica Platform namespace.
    VVP_NAMESPACE = "vvpNamespace": String, default "default";
    /// Ververica Platform inside the cluster: `namespace/service:port`, reached through the
    /// API server's service proxy instead of `vvpUrl`.
    VVP_SERVICE = "vvpService": String, default "";

    /// Deployment name (`metadata.name`).
    DEPLOYMENT_NAME = "deploymentName": String, default "";
    /// Job name on a Flink session cluster or HDInsight cluster, used to find the running job.
    JOB_NAME = "jobName": String, default "";
    /// Deployment id (seed-000 style addressing).
    DEPLOYMENT_ID = "deploymentId": String, default "";
    /// Deployment spec file, YAML or JSON; or several (a folder, a glob, a list): one
    /// deployment each.
    SPEC_FILE = "specFile": FilePath, default "";
    /// `metadata.displayName`.
    DISPLAY_NAME = "displayName": String, default "";
    DEPLOYMENT_TARGET_NAME = "deploymentTargetName": String, default "";
    DEPLOYMENT_TARGET_ID = "deploymentTargetId": String, default "";
    SESSION_CLUSTER_NAME = "sessionClusterName": String, default "";
    ENTRY_CLASS = "entryClass": String, default "";
    /// Program arguments, shell-like quoting.
    MAIN_ARGS = "mainArgs": String, default "";
    PARALLELISM = "parallelism": String, default "";
    /// Multi-line `key: value` Flink configuration.
    FLINK_CONFIGURATION = "flinkConfiguration": MultiLine, default "";
    UPGRADE_STRATEGY = "upgradeStrategy": PickList(UPGRADE_STRATEGIES), default "";
    RESTORE_STRATEGY = "restoreStrategy": PickList(RESTORE_STRATEGIES), default "";
    /// When the job is restarted on deploy: `ifChanged`, `always`, `never`.
    RESTART = "restart": PickList(RESTART_MODES), default "ifChanged";
    /// PATCH (merge) or PUT (replace), like the operator's `syncingMode`.
    SYNCING_MODE = "syncingMode": PickList(SYNCING_MODES), default "PATCH";
    SAVEPOINT_ID = "savepointId": String, default "";
    SAVEPOINT_LOCATION = "savepointLocation": String, default "";
    /// Target directory for savepoints (when the cluster has no default).
    SAVEPOINT_DIRECTORY = "savepointDirectory": String, default "";
    /// Where `renderCustomResource` writes the VvpDeployment resource.
    CUSTOM_RESOURCE_PATH = "customResourcePath": FilePath, default "";
    /// Kubernetes secret named by the `apikeySecretName` annotation of the VvpDeployment.
    APIKEY_SECRET_NAME = "apikeySecretName": String, default "";
    /// Which resource the Ververica Platform operator reads: 2 (2.x) or 3 (3.1+).
    VVP_OPERATOR_VERSION = "vvpOperatorVersion": PickList(VVP_OPERATOR_VERSIONS), default "";
    /// The 3.x operator's `instanceId` (the `ververica.platform/owner` label).
    VVP_OPERATOR_INSTANCE_ID = "vvpOperatorInstanceId": String, default "";
    /// Target `flinkOperator`: the resource an action without `specFile` works on.
    FLINK_RESOURCE_KIND = "flinkResourceKind": PickList(FLINK_RESOURCE_KINDS), default "";
    /// Take over fields another field manager owns on server-side apply.
    FORCE_CONFLICTS = "forceConflicts": Boolean, default "false";

    /// Apache Flink REST URL (session cluster JobManager).
    FLINK_URL = "flinkUrl": String, default "";
    FLINK_AUTH_INPUT = "flinkAuth": PickList(FLINK_AUTH), default "none";
    FLINK_USERNAME = "flinkUsername": String, default "";
    FLINK_PASSWORD = "flinkPassword": String, default "", secret;
    FLINK_TOKEN = "flinkToken": String, default "", secret;
    /// Name of the Key Vault secret with the Flink password or token.
    FLINK_CREDENTIAL_SECRET = "flinkCredentialSecret": String, default "";
    ALLOW_NON_RESTORED_STATE = "allowNonRestoredState": Boolean, default "false";
    INITIAL_SAVEPOINT_PATH = "initialSavepointPath": String, default "";

    HDI_SUBSCRIPTION_ID = "hdiSubscriptionId": String, default "";
    HDI_RESOURCE_GROUP = "hdiResourceGroup": String, default "";
    HDI_CLUSTER_POOL = "hdiClusterPool": String, default "";
    HDI_CLUSTER_NAME = "hdiClusterName": String, default "";
    HDI_API_VERSION = "hdiApiVersion": String, default "2023-06-01-preview";
    /// ARM endpoint override (Azure Stack, sovereign clouds, tests).
    HDI_ARM_ENDPOINT = "hdiArmEndpoint": String, default "";

    KEY_VAULT_NAME = "keyVaultName": String, default "";
    SECRETS_FILTER = "secretsFilter": String, default "";
    EXPORT_SECRETS = "exportSecrets": Boolean, default "true";

    /// The jar to deploy: a file or a glob matching exactly one file.
    ARTIFACT_PATH = "artifactPath": String, default "";
    /// A jar URI to use as is (no upload).
    JAR_URI = "jarUri": String, default "";
    STORAGE_ACCOUNT = "storageAccount": String, default "";
    CONTAINER_NAME = "containerName": String, default "";
    BLOB_PREFIX = "blobPrefix": String, default "";
    BLOB_ENDPOINT = "blobEndpoint": String, default "";
    STORAGE_SAS_TOKEN = "storageSasToken": String, default "", secret;

    TIMEOUT_SECONDS = "timeoutSeconds": String, default "600";
    SETTLE_SECONDS = "settleSeconds": String, default "30";
    ROLLBACK_ON_FAILURE = "rollbackOnFailure": Boolean, default "false";
    /// Completed checkpoints a started job must show within the settle window (0: not checked).
    HEALTH_CHECKPOINTS = "healthCheckpoints": String, default "0";
    /// Restarts a started job may have had since it started, by the end of the settle window.
    HEALTH_MAX_RESTARTS = "healthMaxRestarts": String, default "0";
    /// With several spec files: how many deployments are applied at once.
    MAX_PARALLEL = "maxParallel": String, default "4";
    /// With several spec files: `continue` (the others go on) or `stop` (no new one starts).
    ON_FAILURE = "onFailure": PickList(ON_FAILURE_MODES), default "continue";
    /// With several spec files: roll back the failed `deployment`, or `all` this run changed.
    ROLLBACK_SCOPE = "rollbackScope": PickList(ROLLBACK_SCOPES), default "deployment";

    TEST_RESULTS_FILE = "testResultsFile": FilePath, default "";
    PUBLISH_TEST_RESULTS = "publishTestResults": Boolean, default "true";
    /// Allow sending credentials over plain http to a host other than loopback.
    ALLOW_INSECURE_HTTP = "allowInsecureHttp": Boolean, default "false";
}

/// Output variables the task sets.
pub const OUTPUTS: &[&str] = &[
    "deploymentId",
    "deploymentName",
    "jobId",
    "state",
    "savepointLocation",
    "jarUri",
    "deployments",
];

pub fn find(name: &str) -> Option<&'static InputDef> {
    ALL.iter().find(|d| d.name.eq_ignore_ascii_case(name))
}
