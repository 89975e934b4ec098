//! Reads metric values back from the text exposition, exactly as a scraper sees them.

#![allow(dead_code)]

use std::collections::BTreeMap;

use octopus_core::{NoHeaders, Octopus};

/// Every sample of one rendering: (metric name, labels) → value.
pub struct Samples(BTreeMap<(String, BTreeMap<String, String>), f64>);

impl Samples {
    pub fn of(octopus: &Octopus) -> Self {
        let exposition = octopus.scrape(&NoHeaders);
        Samples::parse(std::str::from_utf8(&exposition.body).expect("exposition is UTF-8"))
    }

    pub fn parse(text: &str) -> Self {
        let mut samples = BTreeMap::new();
        for line in text
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let (series, value) = line.rsplit_once(' ').expect("sample line has a value");
            let value: f64 = match value {
                "+Inf" => f64::INFINITY,
                v => v
                    .parse()
                    .unwrap_or_else(|_| panic!("bad value in {line:?}")),
            };
            let (name, labels) = match series.split_once('{') {
                None => (series.to_string(), BTreeMap::new()),
                Some((name, rest)) => {
                    let body = rest.strip_suffix('}').expect("labels end with }");
                    (name.to_string(), parse_labels(body))
                }
            };
            assert!(
                samples.insert((name, labels), value).is_none(),
                "duplicate series in {line:?}"
            );
        }
        Samples(samples)
    }

    /// The value of the series with exactly these labels (besides `service_name`), if any.
    /// For a histogram bucket, name `..._bucket` and include `le`.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let wanted: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.0
            .iter()
            .find(|((n, l), _)| {
                let mut l = l.clone();
                l.remove("service_name");
                n == name && l == wanted
            })
            .map(|(_, v)| *v)
    }

    /// How many series of this metric exist.
    pub fn series(&self, name: &str) -> usize {
        self.0.keys().filter(|(n, _)| n == name).count()
    }

    /// The value of label `label` on every series of `name`.
    pub fn label_values(&self, name: &str, label: &str) -> Vec<String> {
        self.0
            .keys()
            .filter(|(n, _)| n == name)
            .filter_map(|(_, l)| l.get(label).cloned())
            .collect()
    }
}

fn parse_labels(body: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut chars = body.chars().peekable();
    while chars.peek().is_some() {
        let name: String = chars.by_ref().take_while(|c| *c != '=').collect();
        assert_eq!(chars.next(), Some('"'), "label value is quoted");
        let mut value = String::new();
        loop {
            match chars.next().expect("label value ends") {
                '\\' => match chars.next().expect("escape") {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                '"' => break,
                c => value.push(c),
            }
        }
        labels.insert(name, value);
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
    labels
}
