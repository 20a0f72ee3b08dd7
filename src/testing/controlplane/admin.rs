//! The test driver's client: a cluster-admin `kube::Client` whose connections are made
//! inside the control plane's namespace (the API server is reachable nowhere else from
//! the test process), behind blocking calls for synchronous tests.
//!
//! A dedicated thread enters the namespace and owns a current-thread tokio runtime; every
//! call sends it a closure and waits for the result, so every socket the client opens is
//! opened on that thread, in that namespace. A panic inside a closure is re-raised in the
//! caller.

use std::any::Any;
use std::fmt::Debug;
use std::fs::File;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::mpsc;
use std::thread::JoinHandle;

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::{Scope, pinned_kind};
use kube::{Client, Resource, ResourceExt};
use nix::sched::{CloneFlags, setns};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::sys::netns;

/// The field manager of everything the tests apply.
const MANAGER: &str = "kproxy-tests";

type Job = Box<dyn FnOnce(&tokio::runtime::Runtime, &Client) + Send>;
type Outcome<R> = Result<R, Box<dyn Any + Send>>;

pub struct Admin {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl Admin {
    /// Starts the driver thread in the namespace `netns_name`, with a client from the
    /// kubeconfig text `kubeconfig`.
    pub(super) fn start(netns_name: &str, kubeconfig: String) -> Self {
        let path = netns::path(netns_name);
        let (jobs, incoming) = mpsc::channel::<Job>();
        let (ready_tx, ready) = mpsc::channel::<Result<(), String>>();
        let thread = std::thread::spawn(move || {
            let setup = || -> Result<(tokio::runtime::Runtime, Client), String> {
                let file = File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                setns(&file, CloneFlags::CLONE_NEWNET)
                    .map_err(|e| format!("entering {}: {e}", path.display()))?;
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| e.to_string())?;
                let client = runtime.block_on(async {
                    let kc = kube::config::Kubeconfig::from_yaml(&kubeconfig)
                        .map_err(|e| e.to_string())?;
                    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
                        .await
                        .map_err(|e| e.to_string())?;
                    Client::try_from(config).map_err(|e| e.to_string())
                })?;
                Ok((runtime, client))
            };
            let (runtime, client) = match setup() {
                Ok(ok) => {
                    let _ = ready_tx.send(Ok(()));
                    ok
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            for job in incoming {
                job(&runtime, &client);
            }
        });
        match ready.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("the admin client could not start: {e}"),
            Err(_) => panic!("the admin client's thread ended before starting"),
        }
        Self {
            jobs: Some(jobs),
            thread: Some(thread),
        }
    }

    /// Runs `f` with the admin client on the driver thread and returns its result.
    pub fn run<R, Fut>(&self, f: impl FnOnce(Client) -> Fut + Send + 'static) -> R
    where
        R: Send + 'static,
        Fut: Future<Output = R>,
    {
        let (tx, rx) = mpsc::channel::<Outcome<R>>();
        let job: Job = Box::new(move |runtime, client| {
            let client = client.clone();
            let outcome = catch_unwind(AssertUnwindSafe(|| runtime.block_on(f(client))));
            let _ = tx.send(outcome);
        });
        self.jobs
            .as_ref()
            .expect("present until dropped")
            .send(job)
            .expect("the admin client's thread is gone");
        match rx.recv().expect("the admin client's thread is gone") {
            Ok(r) => r,
            Err(panic) => resume_unwind(panic),
        }
    }

    /// Creates or updates `obj` (server-side apply, forcing ownership): the API server
    /// ends up with exactly the fields given. Returns the object as stored.
    pub fn apply<K>(&self, obj: &K) -> K
    where
        K: Resource<DynamicType = ()> + Serialize + DeserializeOwned + Debug + Send + 'static,
    {
        self.apply_typed(obj, false)
    }

    /// Applies every object of `objs` like [`apply`](Self::apply), up to `concurrency`
    /// requests at a time (loading thousands of objects one by one takes minutes).
    pub fn apply_all<K>(&self, objs: &[K], concurrency: usize)
    where
        K: Resource<DynamicType = ()> + Serialize + DeserializeOwned + Debug + Send + 'static,
    {
        use futures::StreamExt;
        let dynamics: Vec<DynamicObject> = objs.iter().map(to_dynamic).collect();
        let ar = ApiResource::erase::<K>(&());
        self.run(move |client| async move {
            futures::stream::iter(dynamics)
                .map(|obj| {
                    let (client, ar) = (client.clone(), &ar);
                    async move {
                        let namespace = obj.metadata.namespace.clone();
                        apply_dynamic(client, ar, namespace, &obj, false).await;
                    }
                })
                .buffer_unordered(concurrency.max(1))
                .collect::<Vec<()>>()
                .await;
        });
    }

    /// Sets the `status` of `obj` through the status subresource, as the kubelet does for
    /// pods (server-side apply of the object's `status` only).
    pub fn apply_status<K>(&self, obj: &K) -> K
    where
        K: Resource<DynamicType = ()> + Serialize + DeserializeOwned + Debug + Send + 'static,
    {
        self.apply_typed(obj, true)
    }

    fn apply_typed<K>(&self, obj: &K, status: bool) -> K
    where
        K: Resource<DynamicType = ()> + Serialize + DeserializeOwned + Debug + Send + 'static,
    {
        let dynamic = to_dynamic(obj);
        let ar = ApiResource::erase::<K>(&());
        let stored = self.run(move |client| async move {
            let namespace = dynamic.metadata.namespace.clone();
            apply_dynamic(client, &ar, namespace, &dynamic, status).await
        });
        from_dynamic(stored)
    }

    /// The object `name` (in `namespace`, for namespaced kinds), if it exists.
    pub fn get<K>(&self, namespace: Option<&str>, name: &str) -> Option<K>
    where
        K: Resource<DynamicType = ()> + DeserializeOwned + Debug + Clone + Send + 'static,
    {
        let (namespace, name) = (namespace.map(str::to_string), name.to_string());
        let ar = ApiResource::erase::<K>(&());
        let found = self.run(move |client| async move {
            dynamic_api(client, &ar, namespace.as_deref())
                .get_opt(&name)
                .await
                .unwrap_or_else(|e| panic!("getting {name}: {e}"))
        });
        found.map(from_dynamic)
    }

    /// Every object of kind `K` (in `namespace`, or everywhere).
    pub fn list<K>(&self, namespace: Option<&str>) -> Vec<K>
    where
        K: Resource<DynamicType = ()> + DeserializeOwned + Debug + Clone + Send + 'static,
    {
        let namespace = namespace.map(str::to_string);
        let ar = ApiResource::erase::<K>(&());
        let items = self.run(move |client| async move {
            dynamic_api(client, &ar, namespace.as_deref())
                .list(&Default::default())
                .await
                .unwrap_or_else(|e| panic!("listing {}: {e}", ar.plural))
                .items
        });
        items.into_iter().map(from_dynamic).collect()
    }

    /// Deletes `name`, with `grace_seconds` for pods (`None`: the object's default).
    /// Deleting what is already gone is not an error.
    pub fn delete<K>(&self, namespace: Option<&str>, name: &str, grace_seconds: Option<u32>)
    where
        K: Resource<DynamicType = ()> + DeserializeOwned + Debug + Clone + Send + 'static,
    {
        let (namespace, name) = (namespace.map(str::to_string), name.to_string());
        let ar = ApiResource::erase::<K>(&());
        self.run(move |client| async move {
            let api = dynamic_api(client, &ar, namespace.as_deref());
            let params = DeleteParams {
                grace_period_seconds: grace_seconds,
                ..DeleteParams::default()
            };
            match api.delete(&name, &params).await {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => panic!("deleting {name}: {e}"),
            }
        })
    }

    /// Applies every object of a multi-document YAML manifest (such as deploy/rbac.yaml),
    /// whatever its kind: the kind's resource and scope come from the server's discovery.
    pub fn apply_manifest(&self, yaml: &str) -> usize {
        let objects: Vec<DynamicObject> = serde_yaml::Deserializer::from_str(yaml)
            .filter_map(|doc| {
                let value = serde_yaml::Value::deserialize(doc).expect("a YAML document");
                (!value.is_null()).then(|| serde_yaml::from_value(value).expect("an object"))
            })
            .collect();
        let count = objects.len();
        self.run(move |client| async move {
            for obj in objects {
                let types = obj.types.clone().expect("apiVersion and kind");
                let gvk = GroupVersionKind::try_from(&types).expect("a valid apiVersion");
                let (ar, caps) = pinned_kind(&client, &gvk)
                    .await
                    .unwrap_or_else(|e| panic!("discovering {gvk:?}: {e}"));
                let namespace = match caps.scope {
                    Scope::Namespaced => Some(obj.namespace().unwrap_or("default".into())),
                    Scope::Cluster => None,
                };
                apply_dynamic(client.clone(), &ar, namespace, &obj, false).await;
            }
        });
        count
    }

    /// A bound token of the service account `namespace/name`, valid for `seconds`: what
    /// the kubelet mounts into a pod running as that account.
    pub fn service_account_token(&self, namespace: &str, name: &str, seconds: i64) -> String {
        let (namespace, name) = (namespace.to_string(), name.to_string());
        self.run(move |client| async move {
            let api: Api<ServiceAccount> = Api::namespaced(client, &namespace);
            let request = TokenRequest {
                spec: TokenRequestSpec {
                    audiences: Vec::new(),
                    expiration_seconds: Some(seconds),
                    ..TokenRequestSpec::default()
                },
                ..TokenRequest::default()
            };
            api.create_token_request(&name, &Default::default(), &request)
                .await
                .unwrap_or_else(|e| panic!("a token for {namespace}/{name}: {e}"))
                .status
                .expect("the token request's status")
                .token
        })
    }

    /// Whether the API server answers `/readyz` with `ok`.
    pub fn ready(&self) -> bool {
        self.run(|client| async move {
            let request = hyper::Request::get("/readyz").body(Vec::new()).unwrap();
            matches!(client.request_text(request).await, Ok(body) if body.trim() == "ok")
        })
    }
}

impl Drop for Admin {
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn to_dynamic<K: Serialize>(obj: &K) -> DynamicObject {
    serde_json::from_value(serde_json::to_value(obj).expect("serialisable"))
        .expect("a Kubernetes object")
}

fn from_dynamic<K: DeserializeOwned>(obj: DynamicObject) -> K {
    serde_json::from_value(serde_json::to_value(obj).expect("serialisable"))
        .expect("the stored object is of the kind applied")
}

fn dynamic_api(client: Client, ar: &ApiResource, namespace: Option<&str>) -> Api<DynamicObject> {
    match namespace {
        Some(ns) => Api::namespaced_with(client, ns, ar),
        None => Api::all_with(client, ar),
    }
}

async fn apply_dynamic(
    client: Client,
    ar: &ApiResource,
    namespace: Option<String>,
    obj: &DynamicObject,
    status: bool,
) -> DynamicObject {
    let api = dynamic_api(client, ar, namespace.as_deref());
    let name = obj.name_any();
    let params = PatchParams::apply(MANAGER).force();
    let mut body = if status {
        // Only the status: the status subresource ignores the rest, and fields sent
        // through it would be owned there.
        let mut only = DynamicObject::new(&name, ar);
        only.metadata.namespace = namespace.clone();
        only.data = serde_json::json!({ "status": obj.data["status"] });
        only
    } else {
        obj.clone()
    };
    body.types = Some(kube::core::TypeMeta {
        api_version: ar.api_version.clone(),
        kind: ar.kind.clone(),
    });
    body.metadata.resource_version = None;
    body.metadata.managed_fields = None;
    let result = if status {
        api.patch_status(&name, &params, &Patch::Apply(&body)).await
    } else {
        api.patch(&name, &params, &Patch::Apply(&body)).await
    };
    result.unwrap_or_else(|e| panic!("applying {} {name}: {e}", ar.kind))
}
