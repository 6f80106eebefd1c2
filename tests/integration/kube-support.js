// Shared by the tests of the task against Kubernetes: a world of fakes (Entra ID, Resource
// Manager with AKS clusters, the Kubernetes API server, Ververica Platform) and the service
// connections a pipeline would pass, as the agent passes them.
'use strict';
const path = require('path');
const { startEntra } = require('../fakes/entra');
const { startK8s } = require('../fakes/k8s');
const { startArmAks } = require('../fakes/arm-aks');
const { startVvp } = require('../fakes/vvp');
const { makeTestCa } = require('../fakes/tls');
const { CRD_DIR } = require('./k8s-fake-support');

const SUB = '10e32bab-26da-4cc4-a441-52b318f824e6';
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const CLIENT = '5b1d3a6e-1a2b-4c3d-8e9f-0a1b2c3d4e5f';
const SP_SECRET = 'sp-secret-5d2f9c1a7e';
const AZURE_CONN = '3f1e0c52-7c1b-4f39-9d9e-0123456789ab';
const K8S_CONN = '3ef3fe8b-5efc-42b7-a2b6-eeefc0f3b8b3';
const TARGET_ID = '6232cc84-7aa3-4524-b3a8-36cab7203c47';
/** What the Ververica Platform Helm chart calls its service in seed 000's namespace. */
const VVP_SERVICE = 'vvp/vvp-ververica-platform:80';
const PROXY_VERBS = ['get', 'create', 'update', 'patch', 'delete'];

/**
 * Start the fakes. opts: {vvp: startVvp options (token null: authentication off), crd:
 * 'vvp2'|'vvp3', users: extra Kubernetes users, pipelineRules: the AzureRM identity's RBAC rules
 * in the cluster, clusters: AKS clusters (default one Entra cluster without local accounts),
 * services: false for none}.
 */
async function world(opts = {}) {
  const entra = await startEntra({ clients: { [CLIENT]: { secret: SP_SECRET, tenant: TENANT } } });
  const vvp = await startVvp({
    token: null,
    deploymentTargets: [{ name: 'vvp-jobs', id: TARGET_ID }],
    timing: { startMs: 150, stopMs: 60, savepointMs: 60 },
    ...(opts.vvp || {}),
  });
  const k8s = await startK8s({
    namespaces: ['default', 'vvp', 'flink'],
    entra,
    crds: opts.crd ? [path.join(CRD_DIR, `vvp/${opts.crd}-vvpdeployment.crd.yaml`)] : [],
    users: [
      { name: 'pipeline-sp@entra', entraClient: CLIENT, rules: opts.pipelineRules || [{ verbs: PROXY_VERBS, resources: ['services/proxy'], namespaces: ['vvp'] }] },
      ...(opts.users || []),
    ],
    secrets: opts.secrets || [],
  });
  if (opts.services !== false) {
    k8s.addService({ namespace: 'vvp', name: 'vvp-ververica-platform', labels: { app: 'vvp-ververica-platform' }, ports: [{ name: 'http', port: 80, targetPort: 8080, backend: vvp.url }] });
  }
  const arm = await startArmAks({
    entra, k8s,
    clusters: opts.clusters || [{ subscriptionId: SUB, resourceGroup: 'vvp-pipeline-demo', name: 'vvp-pipeline-cluster', entra: { tenantId: TENANT }, disableLocalAccounts: true }],
  });
  const close = async () => { await arm.close(); await k8s.close(); await vvp.close(); await entra.close(); };
  return { entra, vvp, k8s, arm, close };
}

/** The AzureRM service connection, pointing at the Resource Manager and Entra fakes. */
function azureRm(w) {
  return {
    [AZURE_CONN]: {
      url: w.arm.url,
      scheme: 'ServicePrincipal',
      parameters: { tenantid: TENANT, serviceprincipalid: CLIENT, serviceprincipalkey: SP_SECRET, authenticationType: 'spnKey' },
      data: {
        subscriptionid: SUB, environment: 'AzureCloud', environmentAuthorityUrl: w.entra.url,
        activeDirectoryServiceEndpointResourceId: 'https://management.core.windows.net/',
      },
    },
  };
}

/** Inputs that sign in to the AKS cluster through the AzureRM connection. */
function aksInputs(cluster = 'vvp-pipeline-cluster') {
  return { connectionType: 'azureResourceManager', azureSubscription: AZURE_CONN, azureResourceGroup: 'vvp-pipeline-demo', kubernetesCluster: cluster };
}

/** A Kubernetes service connection of type Kubeconfig, as the agent passes it. */
function kubeconfigConnection(w, user) {
  return {
    [K8S_CONN]: {
      url: w.k8s.url,
      scheme: 'Kubernetes',
      parameters: { kubeconfig: w.k8s.kubeconfig(user), clusterContext: 'fake' },
      data: { authorizationType: 'Kubeconfig', acceptUntrustedCerts: 'false' },
    },
  };
}

/** A Kubernetes service connection of type Service account: token and CA as the secret's data. */
function serviceAccountConnection(w, token) {
  return {
    [K8S_CONN]: {
      url: w.k8s.url,
      scheme: 'Token',
      parameters: { apitoken: Buffer.from(token).toString('base64'), serviceAccountCertificate: w.k8s.ca.toString('base64'), isCreatedFromSecretYaml: 'true' },
      data: { authorizationType: 'ServiceAccount', acceptUntrustedCerts: 'false' },
    },
  };
}

/** The agent's CA file: the one test CA every HTTPS fake here uses. */
const agentCa = () => ({ AGENT_CAINFO: makeTestCa().caFile });

/**
 * Every secret a run may have seen: the connection's, every Entra token the fake issued, and
 * the static tokens in the kubeconfigs Resource Manager hands out.
 */
function secretsOf(w, extra = []) {
  return [SP_SECRET, ...w.entra.state.tokens.map((t) => t.token), ...w.arm.clusters.flatMap((c) => Object.values(c.tokens)), ...extra];
}

module.exports = {
  SUB, TENANT, CLIENT, SP_SECRET, AZURE_CONN, K8S_CONN, TARGET_ID, VVP_SERVICE, PROXY_VERBS,
  world, azureRm, aksInputs, kubeconfigConnection, serviceAccountConnection, agentCa, secretsOf,
};
