//! The shape of a model file as written: plain serde structures, strings for references and
//! dates. `load` turns these into a [`crate::Model`] with dense ids after checking them.

use indexmap::IndexMap;
use serde::Deserialize;

/// A map written in a model (element shares, firms' shares, behaviour parameters): a key
/// written twice is an error, not the second value silently replacing the first (a
/// mistyped `Tb` for `Dy` would drop Dy from a deposit while the shares still summed to 1).
#[derive(Debug, Clone)]
pub struct UniqueMap<V>(pub IndexMap<String, V>);

impl<V> Default for UniqueMap<V> {
    fn default() -> Self {
        UniqueMap(IndexMap::new())
    }
}

impl<V> std::ops::Deref for UniqueMap<V> {
    type Target = IndexMap<String, V>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<V> IntoIterator for UniqueMap<V> {
    type Item = (String, V);
    type IntoIter = indexmap::map::IntoIter<String, V>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a, V> IntoIterator for &'a UniqueMap<V> {
    type Item = (&'a String, &'a V);
    type IntoIter = indexmap::map::Iter<'a, String, V>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for UniqueMap<V> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> serde::de::Visitor<'de> for Visit<V> {
            type Value = UniqueMap<V>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Self::Value, A::Error> {
                let mut m = IndexMap::new();
                while let Some((k, v)) = a.next_entry::<String, V>()? {
                    if m.contains_key(&k) {
                        return Err(serde::de::Error::custom(format!(
                            "the key '{k}' is written twice"
                        )));
                    }
                    m.insert(k, v);
                }
                Ok(UniqueMap(m))
            }
        }
        d.deserialize_map(Visit(std::marker::PhantomData))
    }
}

/// `source:` may name one source id or several.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(untagged)]
pub enum SourceRef {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl SourceRef {
    pub fn ids(&self) -> Vec<&str> {
        match self {
            SourceRef::None => vec![],
            SourceRef::One(s) => vec![s.as_str()],
            SourceRef::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ModelFile {
    #[serde(default)]
    pub model: Option<Header>,
    #[serde(default)]
    pub include: Vec<String>,
    #[serde(default)]
    pub notes: Option<String>,
    #[serde(default)]
    pub sources: Vec<SourceDef>,
    #[serde(default)]
    pub elements: Vec<String>,
    #[serde(default)]
    pub forms: Vec<FormDef>,
    #[serde(default)]
    pub stages: Vec<String>,
    #[serde(default)]
    pub recipes: Vec<RecipeDef>,
    #[serde(default)]
    pub countries: Vec<CountryDef>,
    #[serde(default)]
    pub markets: Vec<String>,
    #[serde(default)]
    pub firms: Vec<FirmDef>,
    #[serde(default)]
    pub deposits: Vec<DepositDef>,
    #[serde(default)]
    pub facilities: Vec<FacilityDef>,
    #[serde(default)]
    pub sectors: Vec<SectorDef>,
    #[serde(default)]
    pub prices: Vec<PriceDef>,
    #[serde(default)]
    pub stockpiles: Vec<StockpileDef>,
    #[serde(default)]
    pub groups: Vec<GroupDef>,
    #[serde(default)]
    pub policies: Vec<PolicyDef>,
    #[serde(default)]
    pub contracts: Vec<ContractDef>,
    #[serde(default)]
    pub behaviour: UniqueMap<ParamDef>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    pub name: String,
    #[serde(default)]
    pub title: Option<String>,
    pub start: String,
    pub end: String,
    #[serde(default)]
    pub step_days: Option<i64>,
    #[serde(default)]
    pub seed: Option<u64>,
    #[serde(default)]
    pub currency: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceDef {
    pub id: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormDef {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub mixed: bool,
    #[serde(default)]
    pub re_share: Option<f64>,
    #[serde(default)]
    pub source: SourceRef,
    #[serde(default)]
    pub assumption: Option<String>,
    #[serde(default)]
    pub calibrated: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecipeDef {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    pub stage: String,
    pub input: String,
    pub output: String,
    pub recovery: f64,
    #[serde(default)]
    pub composition: Option<UniqueMap<f64>>,
    #[serde(default)]
    pub elements: Option<Vec<String>>,
    /// Endogenous thrifting: per element, how far its share can fall when its price rises.
    #[serde(default)]
    pub thrift: Option<UniqueMap<SubstitutionDef>>,
    #[serde(default)]
    pub source: SourceRef,
    #[serde(default)]
    pub assumption: Option<String>,
    #[serde(default)]
    pub calibrated: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountryDef {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    pub market: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FirmDef {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    pub country: String,
    #[serde(default)]
    pub parent: Option<String>,
    #[serde(default)]
    pub source: SourceRef,
    #[serde(default)]
    pub assumption: Option<String>,
    #[serde(default)]
    pub calibrated: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepositDef {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    pub country: String,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    pub distribution: UniqueMap<f64>,
    /// The mixed form its mines produce; `concentrate` when not given.
    #[serde(default)]
    pub form: Option<String>,
    #[serde(default)]
    pub source: SourceRef,
    #[serde(default)]
    pub assumption: Option<String>,
    #[serde(default)]
    pub calibrated: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FacilityDef {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub firm: Option<String>,
    pub country: String,
    pub stage: String,
    #[serde(default)]
    pub deposit: Option<String>,
    #[serde(default)]
    pub recipe: Option<String>,
    pub capacity: f64,
    #[serde(default)]
    pub utilisation: Option<f64>,
    #[serde(default)]
    pub start: Option<String>,
    #[serde(default)]
    pub end: Option<String>,
    #[serde(default)]
    pub ramp_months: Option<f64>,
    #[serde(default)]
    pub cover_weeks: Option<f64>,
    /// A separator that runs above its `utilisation`, up to nameplate, while its feed is
    /// left on offer unsold (a backlog).
    #[serde(default)]
    pub spare_lines: Option<bool>,
    #[serde(default)]
    pub source: SourceRef,
    #[serde(default)]
    pub assumption: Option<String>,
    #[serde(default)]
    pub calibrated: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubstitutionDef {
    pub max: f64,
    pub lag_months: f64,
    pub trigger: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SectorDef {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    pub country: String,
    pub material: String,
    #[serde(default)]
    pub mix: Option<UniqueMap<f64>>,
    pub demand: f64,
    #[serde(default)]
    pub growth: Option<f64>,
    #[serde(default)]
    pub units: Option<f64>,
    #[serde(default)]
    pub unit: Option<String>,
    #[serde(default)]
    pub elasticity: Option<f64>,
    #[serde(default)]
    pub substitution: Option<SubstitutionDef>,
    #[serde(default)]
    pub priority: Option<i64>,
    #[serde(default)]
    pub cover_weeks: Option<f64>,
    #[serde(default)]
    pub recycle_rate: Option<f64>,
    #[serde(default)]
    pub firms: Option<UniqueMap<f64>>,
    #[serde(default)]
    pub source: SourceRef,
    #[serde(default)]
    pub assumption: Option<String>,
    #[serde(default)]
    pub calibrated: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceDef {
    pub form: String,
    #[serde(default)]
    pub element: Option<String>,
    #[serde(default)]
    pub market: Option<String>,
    pub price: f64,
    #[serde(default)]
    pub source: SourceRef,
    #[serde(default)]
    pub assumption: Option<String>,
    #[serde(default)]
    pub calibrated: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StockpileDef {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    pub country: String,
    pub form: String,
    #[serde(default)]
    pub tonnes: Option<f64>,
    #[serde(default)]
    pub elements: Option<UniqueMap<f64>>,
    #[serde(default)]
    pub composition: Option<UniqueMap<f64>>,
    #[serde(default)]
    pub target_days: Option<f64>,
    #[serde(default)]
    pub source: SourceRef,
    #[serde(default)]
    pub assumption: Option<String>,
    #[serde(default)]
    pub calibrated: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupDef {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    pub members: Vec<String>,
    #[serde(default)]
    pub source: SourceRef,
    #[serde(default)]
    pub assumption: Option<String>,
    #[serde(default)]
    pub calibrated: Option<String>,
}

/// A policy in force from the model's start (or from `start`), as data.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyDef {
    pub kind: String,
    #[serde(default)]
    pub exporter: Option<String>,
    #[serde(default)]
    pub importer: Option<String>,
    #[serde(default)]
    pub elements: Option<Vec<String>>,
    #[serde(default)]
    pub forms: Option<Vec<String>>,
    #[serde(default)]
    pub to: Option<Vec<String>>,
    #[serde(default)]
    pub exempt: Option<Vec<String>>,
    #[serde(default)]
    pub approval: Option<f64>,
    #[serde(default)]
    pub delay_days: Option<f64>,
    #[serde(default)]
    pub tonnes_per_year: Option<f64>,
    #[serde(default)]
    pub rate: Option<f64>,
    #[serde(default)]
    pub threshold: Option<f64>,
    #[serde(default)]
    pub start: Option<String>,
    #[serde(default)]
    pub end: Option<String>,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub source: SourceRef,
    #[serde(default)]
    pub assumption: Option<String>,
    #[serde(default)]
    pub calibrated: Option<String>,
}

/// Supply under contract: a share of a facility's output goes to buyers in one country
/// before the open market (captive feed, offtake agreements); with `firm`, only to that
/// firm's plants there (or its subsidiaries'): a firm's own feed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContractDef {
    pub facility: String,
    pub country: String,
    pub share: f64,
    #[serde(default)]
    pub firm: Option<String>,
    #[serde(default)]
    pub source: SourceRef,
    #[serde(default)]
    pub assumption: Option<String>,
    #[serde(default)]
    pub calibrated: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamDef {
    pub value: f64,
    #[serde(default)]
    pub source: SourceRef,
    #[serde(default)]
    pub assumption: Option<String>,
    #[serde(default)]
    pub calibrated: Option<String>,
}

/// Records that carry numbers say where the numbers come from.
pub trait Sourced {
    fn source(&self) -> &SourceRef;
    fn assumption(&self) -> Option<&str>;
}

macro_rules! sourced {
    ($($t:ty),*) => {$(
        impl Sourced for $t {
            fn source(&self) -> &SourceRef {
                &self.source
            }
            fn assumption(&self) -> Option<&str> {
                self.assumption.as_deref()
            }
        }
    )*};
}

sourced!(
    FormDef,
    ContractDef,
    RecipeDef,
    FirmDef,
    DepositDef,
    FacilityDef,
    SectorDef,
    PriceDef,
    StockpileDef,
    GroupDef,
    PolicyDef,
    ParamDef
);
