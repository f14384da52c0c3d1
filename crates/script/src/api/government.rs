//! Government levers: stockpiles, price floors, subsidies.

use rhai::plugin::*;

use crate::args::{finite, number, Num, Res};
use crate::host::{lever, Host};

/// A stockpile rate argument (t/yr of the stockpile's form), checked.
fn per_year(tonnes_per_year: &Num) -> Res<f64> {
    finite(
        number(tonnes_per_year, "tonnes_per_year")?,
        "tonnes_per_year",
        0.0,
        1e7,
    )
}

/// Tonnes of rare earth per tonne of the stockpile's form.
fn re_share(h: &Host, s: usize) -> f64 {
    h.sim.model.forms[h.sim.model.stockpiles[s].form].re_share
}

/// The share of facility `f`'s output its offtakes and contracts take now.
fn committed(h: &Host, f: usize) -> f64 {
    let offtakes = h.sim.offtakes.iter().filter(|o| o.facility == f);
    let contracts = h.sim.contracts.iter().filter(|k| k.facility == f);
    offtakes.map(|o| o.share).sum::<f64>() + contracts.map(|k| k.share).sum::<f64>()
}

/// Refuses a new `share` of facility `f`'s output where the offtakes and contracts it does
/// not replace (those holding `replaced` of it) already take the rest.
fn over_all(h: &Host, facility: &str, f: usize, replaced: f64, share: f64) -> Res<()> {
    let taken = committed(h, f) - replaced;
    if taken + share > 1.0 + 1e-9 {
        // Say whose they are (the model's own contracts among them), and how to make room.
        let m = &h.sim.model;
        let holders: Vec<String> = (h.sim.contracts.iter().filter(|k| k.facility == f))
            .map(|k| {
                let to = match k.firm {
                    Some(firm) => format!("{} in {}", m.firms[firm].id, m.countries[k.country].id),
                    None => m.countries[k.country].id.clone(),
                };
                (format!("contract to {to}"), k.share)
            })
            .chain(
                (h.sim.offtakes.iter().filter(|o| o.facility == f)).map(|o| {
                    (
                        format!("offtake into {}", m.stockpiles[o.stockpile].id),
                        o.share,
                    )
                }),
            )
            .map(|(who, share)| format!("{who} {:.0}%", share * 100.0))
            .collect();
        return Err(crate::host::err(format!(
            "contracts and offtakes on '{facility}' already take {:.0}% of its output ({}): \
             another {:.0}% would be more than all of it; lower one first (a contract set \
             again to the same country and firm, or an offtake into the same stockpile, \
             replaces its share)",
            taken * 100.0,
            holders.join(", "),
            share * 100.0
        )));
    }
    Ok(())
}

/// Sets a stockpile's release: its rate (t/yr of its form) and whether it sells only as
/// needed.
fn release(ctx: &NativeCallContext, id: &str, tonnes_per_year: Num, as_needed: bool) -> Res<()> {
    let t = per_year(&tonnes_per_year)?;
    lever(ctx, |h| {
        let s = h.stockpile(id)?;
        let re = re_share(h, s);
        let before = (
            h.sim.stockpile_release[s],
            h.sim.stockpile_buy[s],
            h.sim.stockpile_as_needed[s],
        );
        h.sim.stockpile_release[s] = t * re;
        h.sim.stockpile_buy[s] = 0.0;
        h.sim.stockpile_as_needed[s] = as_needed;
        if t == 0.0 && before.0 == 0.0 && before.1 == 0.0 {
            return Ok(()); // Neither releasing nor buying before: nothing pulled.
        }
        let how = if as_needed { ", as needed" } else { "" };
        if as_needed && t > 0.0 {
            unconverted_note(h, s);
        }
        h.log("stockpile_release", format!("{id} releases {t} t/yr{how}"));
        Ok(())
    })
}

/// A reserve released as needed goes to its own country's buyers of its form only. Where
/// it holds an intermediate good (oxide) of which that country's plants need some elements
/// in a form made from it (Japan's magnet makers take Dy and Tb as metal), and no plant
/// there makes that form of them now, those elements reach only the good's own users: said,
/// with the plants to build.
fn unconverted_note(h: &mut crate::host::Host, s: usize) {
    use chokepoint_core::model::Process;
    let m = std::sync::Arc::clone(&h.sim.model);
    let date = h.sim.date();
    let sp = &m.stockpiles[s];
    let (x, form) = (sp.country, sp.form);
    let uses = |r: usize, e: usize| m.recipes[r].handles(e);
    let recipe = |f: &chokepoint_core::model::Facility| match f.process {
        Process::Convert(r) => Some(r),
        Process::Mine(_) => None,
    };
    // The forms made from the reserve's (metal, from oxide), and the country's plants,
    // with whether each runs now.
    let made_from: Vec<usize> = (m.recipes.iter())
        .filter(|r| r.input == form)
        .map(|r| r.output)
        .collect();
    if made_from.is_empty() {
        return; // A final good (magnets): its users take it as it is.
    }
    let here: Vec<(usize, usize)> = (0..m.facilities.len())
        .filter(|&f| m.facilities[f].country == x && !h.sim.closed.get(f).copied().unwrap_or(false))
        .filter(|&f| m.facilities[f].end.is_none_or(|end| end > date))
        .filter_map(|f| recipe(&m.facilities[f]).map(|r| (f, r)))
        .collect();
    let runs = |f: usize| m.facilities[f].start <= date;
    let stranded: Vec<usize> = (0..m.elements.len())
        .filter(|&e| sp.holding.get(e).is_some_and(|&v| v > 0.0))
        .filter(|&e| {
            let needed =
                (here.iter()).any(|&(_, r)| made_from.contains(&m.recipes[r].input) && uses(r, e));
            let converted =
                (here.iter()).any(|&(f, r)| runs(f) && m.recipes[r].input == form && uses(r, e));
            needed && !converted
        })
        .collect();
    if stranded.is_empty() {
        return;
    }
    let symbols: Vec<&str> = (stranded.iter())
        .map(|&e| m.elements[e].symbol.as_str())
        .collect();
    let users: Vec<&str> = (m.sectors.iter())
        .filter(|sec| {
            sec.country == x
                && sec.material == form
                && stranded
                    .iter()
                    .any(|&e| sec.mix.get(e).is_some_and(|&v| v > 0.0))
        })
        .map(|sec| sec.id.as_str())
        .collect();
    let (xid, fid) = (&m.countries[x].id, &m.forms[form].id);
    let who = match users.is_empty() {
        true => format!("nobody in {xid} uses them as {fid}"),
        false => format!(
            "only {xid}'s users of the {fid} itself ({}) draw on them",
            users.join(", ")
        ),
    };
    // Plants there that will convert them, not yet running.
    let coming: Vec<String> = (here.iter())
        .filter(|&&(f, r)| {
            !runs(f) && m.recipes[r].input == form && stranded.iter().any(|&e| uses(r, e))
        })
        .map(|&(f, _)| format!("{} from {}", m.facilities[f].id, m.facilities[f].start))
        .collect();
    let coming = match coming.is_empty() {
        true => String::new(),
        false => format!(" (to start: {})", coming.join(", ")),
    };
    // For each, a plant elsewhere that makes something of it from this form: the templates
    // of the plants to build (one per template).
    let mut builds: Vec<String> = Vec::new();
    for &e in &stranded {
        let template = (m.facilities.iter()).find_map(|f| match recipe(f) {
            Some(r) if m.recipes[r].input == form && uses(r, e) => Some((f, r)),
            _ => None,
        });
        if let Some((f, r)) = template {
            let call = format!(
                "build(\"{}\", \"{}-{}-{}\", 200.0, \"180d\", 6.0, #{{ country: \"{xid}\" }})",
                f.id,
                xid.to_lowercase(),
                m.forms[m.recipes[r].output].id.replace(':', "-"),
                m.elements[e].symbol.to_lowercase()
            );
            if !builds
                .iter()
                .any(|b| b.starts_with(&format!("build(\"{}\"", f.id)))
            {
                builds.push(call);
            }
        }
    }
    let builds = match builds.is_empty() {
        true => String::new(),
        false => format!(": {}", builds.join("; ")),
    };
    let note = format!(
        "note: stockpile_release: no plant in {xid} converts the {} {fid} that {} holds now{coming}: \
         released as needed, {who}, not {xid}'s plants that take them in a form made from it \
         (a magnet maker takes metal); build such plants there to change it{builds}",
        symbols.join(", "),
        sp.id,
    );
    if !h.output.contains(&note) {
        h.output.push(note);
    }
}

/// Sets a contract of `share` of `facility`'s output to `country` (to one firm's plants
/// there with `firm`), replacing one of the same facility, country and firm.
fn contract_to(
    ctx: &NativeCallContext,
    facility: &str,
    country: &str,
    share: Num,
    firm: Option<&str>,
) -> Res<()> {
    let share = finite(number(&share, "share")?, "share", 0.0, 1.0)?;
    lever(ctx, |h| {
        let f = h.live_facility(facility)?;
        let c = h.country(country)?;
        let m = std::sync::Arc::clone(&h.sim.model);
        let firm_id = match firm {
            Some(name) => {
                let id = m.firm_id(name).map_err(crate::host::err)?;
                let form = m.facilities[f].output_form(&m);
                if m.firm_plants(id, c, form).next().is_none() {
                    return Err(crate::host::err(format!(
                        "contract: '{name}' has no plant in {country} that takes {facility}'s \
                         {}: the contract would deliver nothing",
                        m.forms[form].id
                    )));
                }
                // Its plants may be closed now (a lever's `close`): it waits for one to open.
                let open = m.firm_plants(id, c, form).any(|p| {
                    !h.sim.closed[p] && m.facilities[p].end.is_none_or(|e| e > h.sim.date())
                });
                if share > 0.0 && !open {
                    h.output.push(format!(
                        "note: contract: every plant of '{name}' in {country} that takes \
                         {facility}'s {} is closed now, so the contract delivers nothing until one \
                         opens",
                        m.forms[form].id
                    ));
                }
                Some(id)
            }
            None => {
                let form = m.facilities[f].output_form(&m);
                if share > 0.0 && !h.sim.anyone_buys(c, form) {
                    return Err(crate::host::err(format!(
                        "contract: nobody in {country} buys {facility}'s {} (no plant takes it, \
                         no sector uses it, no stockpile holds it): the contract would deliver \
                         nothing",
                        m.forms[form].id
                    )));
                }
                None
            }
        };
        // Share 0 without a firm ends every contract of the facility to the country,
        // whichever firm it names; otherwise the one to the same firm (or none) is replaced.
        let end_all = share == 0.0 && firm.is_none();
        let same = |k: &chokepoint_core::sim::Contract| {
            k.facility == f && k.country == c && (end_all || k.firm == firm_id)
        };
        let replaced = h.sim.contracts.iter().filter(|k| same(k)).map(|k| k.share);
        over_all(h, facility, f, replaced.sum(), share)?;
        let before = h.sim.contracts.len();
        h.sim.contracts.retain(|k| !same(k));
        if share == 0.0 && h.sim.contracts.len() == before {
            return Ok(());
        }
        if share > 0.0 {
            h.sim.contracts.push(chokepoint_core::sim::Contract {
                facility: f,
                country: c,
                share,
                firm: firm_id,
                delivered: 0.0,
            });
        }
        let to = match firm {
            Some(name) => format!("{name} in {country}"),
            None => country.to_string(),
        };
        h.log(
            "contract",
            format!("{:.0}% of {facility} to {to}", share * 100.0),
        );
        Ok(())
    })
}

#[export_module]
pub mod government_api {
    use super::{contract_to, over_all, per_year, re_share};
    use crate::args::{finite, number, Num, Res, Span};
    use crate::host::{err, lever};
    use chokepoint_core::sim::{PriceFloor, Subsidy};
    use rhai::Map;

    /// A stockpile buys at `tonnes_per_year` (of its form) until told otherwise, with no
    /// holding target (`stockpile_target` sets one), and stops any release. A rate of 0
    /// only stops buying: a release in progress goes on. It pays the market price (its
    /// country's `policy_cost`), and no import duty: its own government's tariff would be
    /// paid to itself.
    ///
    /// ```rhai
    /// stockpile_buy("us-nds-ndfeb", 450.0);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn stockpile_buy(ctx: NativeCallContext, id: &str, tonnes_per_year: Num) -> Res<()> {
        let t = per_year(&tonnes_per_year)?;
        lever(&ctx, |h| {
            let s = h.stockpile(id)?;
            let re = re_share(h, s);
            let was_buying = h.sim.stockpile_buy[s] > 0.0;
            h.sim.stockpile_buy[s] = t * re;
            if t == 0.0 {
                if was_buying {
                    h.log("stockpile_buy", format!("{id} stops buying"));
                }
                return Ok(());
            }
            h.sim.stockpile_release[s] = 0.0;
            // Until told otherwise: an earlier target no longer stops it.
            h.sim.stockpile_target[s] = f64::INFINITY;
            h.log("stockpile_buy", format!("{id} buys {t} t/yr"));
            Ok(())
        })
    }

    /// A stockpile buys (at up to `tonnes_per_year`) until it holds `tonnes`. A target
    /// only buys: one below what the stockpile holds sells nothing (`stockpile_release`
    /// sells), and a target ends a release in progress, as a stockpile buys or sells, not
    /// both (a note says so in either case).
    ///
    /// ```rhai
    /// stockpile_target("us-nds-ndfeb", 2000.0, 1000.0);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn stockpile_target(
        ctx: NativeCallContext,
        id: &str,
        tonnes: Num,
        tonnes_per_year: Num,
    ) -> Res<()> {
        let target = finite(number(&tonnes, "tonnes")?, "tonnes", 0.0, 1e8)?;
        let rate = per_year(&tonnes_per_year)?;
        lever(&ctx, |h| {
            let s = h.stockpile(id)?;
            let re = re_share(h, s);
            let before = (h.sim.stockpile_buy[s], h.sim.stockpile_release[s]);
            h.sim.stockpile_target[s] = target * re;
            h.sim.stockpile_buy[s] = rate * re;
            h.sim.stockpile_release[s] = 0.0;
            // (In tonnes of the stockpile's form, as `target`.)
            let held = h.sim.stockpile_holding(s);
            if rate == 0.0 && target > held {
                h.output.push(format!(
                    "note: stockpile_target: {id} aims for {target} t at 0 t/yr, so it buys \
                     nothing toward it (it holds what it has; give a rate to buy)"
                ));
            }
            // Each said once a run, however often a rule pulls the lever.
            let mut say = |head: String, rest: String| {
                if !h.output.iter().any(|o| o.starts_with(&head)) {
                    h.output.push(head + rest.as_str());
                }
            };
            if before.1 > 0.0 {
                say(
                    format!("note: stockpile_target: {id} was releasing "),
                    format!(
                        "{:.0} t/yr; the target ends that release (a stockpile buys or \
                         sells, not both)",
                        before.1 / re
                    ),
                );
            } else if target < held - 1e-6 {
                say(
                    format!("note: stockpile_target: {id} holds "),
                    format!(
                        "{held:.0} t, more than its target of {target} t; a target only \
                         buys, so it keeps them (stockpile_release sells)"
                    ),
                );
            }
            if rate == 0.0 && before == (0.0, 0.0) {
                return Ok(()); // A target it buys toward at no rate, and no release to end.
            }
            h.log(
                "stockpile_target",
                format!("{id} aims for {target} t at {rate} t/yr"),
            );
            Ok(())
        })
    }

    /// Adds tonnes to a stockpile at once (a pre-positioned holding; no market purchase).
    ///
    /// ```rhai
    /// stockpile_fill("us-nds-ndfeb", 1000.0);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn stockpile_fill(ctx: NativeCallContext, id: &str, tonnes: Num) -> Res<()> {
        let t = finite(number(&tonnes, "tonnes")?, "tonnes", 0.0, 1e8)?;
        lever(&ctx, |h| {
            let s = h.stockpile(id)?;
            if t == 0.0 {
                return Ok(()); // Nothing added: nothing pulled.
            }
            // Fills add up: together they stay within the bound one call has.
            let held = h.sim.stockpile_holding(s);
            if held + t > 1e8 {
                return Err(err(format!(
                    "stockpile_fill: {id} would hold {} t, and a stockpile may hold 1e8 t at \
                     most",
                    chokepoint_core::error::shown(held + t)
                )));
            }
            h.sim.stockpile_fill(s, t);
            h.log("stockpile_fill", format!("{id} + {t} t"));
            Ok(())
        })
    }

    /// A stockpile sells into its market at up to `tonnes_per_year` while it holds any.
    /// The release is offered beside other sellers' stock whatever the market: while its
    /// buyers are not short it takes a share of their orders and other supply waits, so a
    /// holding released before they run short is partly spent before it is needed, and a
    /// faster release of the same holding can leave them shorter later. Start it when the
    /// gap opens, or sweep the rate. One that sells out before its country's users of its
    /// form are first short (and were not short before it began) gets a note after the run
    /// saying when each came.
    ///
    /// With `#{ as_needed: true }` it is a reserve of last resort instead: see below.
    ///
    /// ```rhai
    /// stockpile_release("us-nds-ndfeb", 2000.0);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn stockpile_release(ctx: NativeCallContext, id: &str, tonnes_per_year: Num) -> Res<()> {
        release(&ctx, id, tonnes_per_year, false)
    }

    /// A release with options: `as_needed` (true or false). As needed, the stockpile stays
    /// out of the market: once it has cleared each week, it gives its country's buyers (in
    /// priority order) what they still lack for that week's use, up to `tonnes_per_year`
    /// over all it holds, at the market price. A holding released early so waits for the
    /// gap, displaces no other supply and goes to no buyer abroad, and the rate is only a
    /// cap. It keeps users running but moves no market price: it gives a week's use, not
    /// cover, so buyers still bid to rebuild their stocks (a release at a rate, sold into
    /// the market, lowers the price). It replaces the stockpile's release, as
    /// `stockpile_release` does. Its country's
    /// buyers of its form are all it reaches: where no plant there converts some of its
    /// elements (in world-2024 no plant in Japan makes Dy or Tb metal, which Japan's magnet
    /// makers take), a note says who can draw on them and the `build` that changes it.
    ///
    /// ```rhai
    /// stockpile_release("us-nds-ndfeb", 3000.0, #{ as_needed: true });
    /// step(4);
    /// expect(current(stockpile("us-nds-ndfeb")) > 449.0, "nobody is short: nothing is sold");
    /// ```
    #[rhai_fn(name = "stockpile_release", return_raw)]
    pub fn stockpile_release_opts(
        ctx: NativeCallContext,
        id: &str,
        tonnes_per_year: Num,
        opts: Map,
    ) -> Res<()> {
        crate::args::known_options("stockpile_release", &opts, &["as_needed"])?;
        let as_needed = match opts.get("as_needed") {
            Some(v) => v.as_bool().map_err(|_| {
                crate::host::err(format!(
                    "as_needed must be true or false, got {}",
                    crate::args::kind(v)
                ))
            })?,
            None => false,
        };
        release(&ctx, id, tonnes_per_year, as_needed)
    }

    /// A price floor: `payer` tops up the facility's sales of `commodity` (e.g. "oxide:Nd")
    /// to `floor` $/kg whenever the market price is below it. It replaces any floor the same
    /// payer keeps under the same facility and commodity; a floor of 0 ends it. Floors of
    /// several payers under the same sales stack: each pays from the next floor below its
    /// own (or the market) up to its own. It pays on what the facility sold of that commodity
    /// each week (of a separator's oxides, that element's sales alone: its unsold co-products
    /// are no part of it; what a contract delivers counts as sold, to the firm's own plants
    /// too, so a floor under a mine that feeds its firm's separator pays on that feed), and
    /// lapses when the facility closes (its `end` in the model; and
    /// while `close` has it shut, until `reopen`).
    /// A floor is a transfer: no plant in the model runs
    /// more for what it is paid over the market (mines and separators run while fed; metal,
    /// magnet and recycling plants curtail on the market's margin), so it costs its payer
    /// and moves no tonne (a note says so); `build` and `expand` add output.
    ///
    /// ```rhai
    /// price_floor("mp-separation", "oxide:Nd", 110.0, "US");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn price_floor(
        ctx: NativeCallContext,
        facility: &str,
        commodity: &str,
        floor: Num,
        payer: &str,
    ) -> Res<()> {
        let floor = finite(number(&floor, "floor")?, "floor", 0.0, 1e7)?;
        lever(&ctx, |h| {
            let m = h.sim.model.clone();
            let f = h.live_facility(facility)?;
            let c = crate::api::query::commodity(&m, commodity)?;
            if !m.makes(f, c) {
                return Err(err(format!(
                    "price_floor: {facility} does not make {commodity}, so a floor on it \
                     would never pay out"
                )));
            }
            let payer = h.country(payer)?;
            let same = |p: &PriceFloor| p.facility == f && p.commodity == c && p.payer == payer;
            let before = h.sim.floors.len();
            h.sim.floors.retain(|p| !same(p));
            if floor == 0.0 && h.sim.floors.len() == before {
                // Nothing to end: no lever pulled.
                return Ok(());
            }
            if floor > 0.0 {
                transfer_note(h, "price_floor");
                h.sim.floors.push(PriceFloor {
                    facility: f,
                    commodity: c,
                    floor,
                    payer,
                    end: None,
                });
            }
            h.log(
                "price_floor",
                format!("{facility} {commodity} at ${floor}/kg"),
            );
            Ok(())
        })
    }

    /// An offtake: `stockpile`'s government buys `share` (0..1) of a facility's new output
    /// at the market price, before the market sees it (the DoD takes all of MP's 10X
    /// magnets). The facility must make the stockpile's form; of a separated form it takes
    /// only the elements the stockpile holds. Across a border it is an export like any
    /// other: controls in force apply (a ban stops it) and it counts in trade. It replaces any offtake of the same
    /// facility into the same stockpile (share 0 ends it). Offtakes and contracts share a
    /// facility's output: together they cannot take more than all of it.
    ///
    /// ```rhai
    /// offtake("mp-independence-magnets", "us-nds-ndfeb", 1.0);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn offtake(ctx: NativeCallContext, facility: &str, stockpile: &str, share: Num) -> Res<()> {
        let share = finite(number(&share, "share")?, "share", 0.0, 1.0)?;
        lever(&ctx, |h| {
            let m = h.sim.model.clone();
            let f = h.live_facility(facility)?;
            let s = h.stockpile(stockpile)?;
            let out = m.facilities[f].output_form(&m);
            if out != m.stockpiles[s].form {
                return Err(err(format!(
                    "offtake: {facility} makes {} but {stockpile} holds {}",
                    m.forms[out].id, m.forms[m.stockpiles[s].form].id
                )));
            }
            let same = |o: &chokepoint_core::sim::Offtake| o.facility == f && o.stockpile == s;
            let replaced = h.sim.offtakes.iter().filter(|o| same(o)).map(|o| o.share);
            over_all(h, facility, f, replaced.sum(), share)?;
            let before = h.sim.offtakes.len();
            h.sim.offtakes.retain(|o| !same(o));
            if share == 0.0 && h.sim.offtakes.len() == before {
                return Ok(());
            }
            h.sim.offtakes_changed(f);
            if share > 0.0 {
                let payer = m.stockpiles[s].country;
                h.sim.offtakes.push(chokepoint_core::sim::Offtake {
                    facility: f,
                    stockpile: s,
                    share,
                    payer,
                });
            }
            h.log(
                "offtake",
                format!("{stockpile} takes {:.0}% of {facility}", share * 100.0),
            );
            Ok(())
        })
    }

    /// A supply contract: `share` (0..1) of a facility's output goes to the buyers in
    /// `country` before the open market (captive supply, or an offtake such as Sojitz's for
    /// Japan). Export bans, quotas and a licence's approval share apply to it; licence
    /// delays do not, nor do tariffs move it (the tonnes are committed outside the market),
    /// though the importer collects their duty on it. It replaces
    /// any contract of the same facility with the same country and no firm; share 0 ends
    /// every contract of the facility to the country, whatever firm it names. A facility's
    /// contracts and offtakes together cannot take more than all of its output.
    ///
    /// ```rhai
    /// contract("mount-weld-mine", "MY", 1.0);
    /// step(4);
    /// expect(current(trade("AU", "MY")) > 5000.0, "Mount Weld's concentrate goes to Kuantan");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn contract(ctx: NativeCallContext, facility: &str, country: &str, share: Num) -> Res<()> {
        contract_to(&ctx, facility, country, share, None)
    }

    /// A contract with options: `firm`, the one firm whose plants in `country` (and its
    /// subsidiaries') take the contracted output, a firm's own feed; other buyers there get
    /// none of it. It replaces a contract of the same facility, country and firm.
    ///
    /// ```rhai
    /// contract("mountain-pass-mine", "US", 1.0, #{ firm: "mp-materials" });
    /// ```
    #[rhai_fn(name = "contract", return_raw)]
    pub fn contract_opts(
        ctx: NativeCallContext,
        facility: &str,
        country: &str,
        share: Num,
        opts: Map,
    ) -> Res<()> {
        crate::args::known_options("contract", &opts, &["firm"])?;
        let firm = match opts.get("firm") {
            Some(v) => Some(
                v.clone()
                    .try_cast::<rhai::ImmutableString>()
                    .ok_or_else(|| {
                        crate::host::err(format!(
                            "firm must be a string, got {}",
                            crate::args::kind(v)
                        ))
                    })?
                    .to_string(),
            ),
            None => None,
        };
        contract_to(&ctx, facility, country, share, firm.as_deref())
    }

    /// A production subsidy of `per_kg` $/kg of the facility's output (kg of its output form:
    /// magnet for a magnet plant, oxide for a separator), paid by `payer`. It replaces any
    /// subsidy the same payer gives the same facility; 0 ends it. As a `price_floor`, it
    /// is a transfer that moves no tonne (a note says so).
    ///
    /// ```rhai
    /// subsidy("mp-independence-magnets", 5.0, "US");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn subsidy(ctx: NativeCallContext, facility: &str, per_kg: Num, payer: &str) -> Res<()> {
        let per_kg = finite(number(&per_kg, "per_kg")?, "per_kg", 0.0, 1e6)?;
        lever(&ctx, |h| {
            let f = h.live_facility(facility)?;
            let payer = h.country(payer)?;
            let before = h.sim.subsidies.len();
            h.sim
                .subsidies
                .retain(|s| !(s.facility == f && s.payer == payer));
            if per_kg == 0.0 && h.sim.subsidies.len() == before {
                return Ok(());
            }
            if per_kg > 0.0 {
                transfer_note(h, "subsidy");
                h.sim.subsidies.push(Subsidy {
                    facility: f,
                    per_kg,
                    payer,
                    end: None,
                });
            }
            h.log("subsidy", format!("{facility} ${per_kg}/kg"));
            Ok(())
        })
    }

    /// Random outages: each step, with `probability`, the facility loses `share` of its
    /// capacity for `duration`; an outage drawn while one runs extends it. Draws come from
    /// the run's seeded stream. They combine with `disrupt` outages by multiplying. A
    /// facility has one such risk: pulled again (by a rule every step, say), it replaces
    /// the last, and a `probability` of 0 ends it.
    ///
    /// ```rhai
    /// random_outage("mount-weld-mine", 0.01, 0.5, "1m");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn random_outage(
        ctx: NativeCallContext,
        facility: &str,
        probability: Num,
        share: Num,
        duration: Span,
    ) -> Res<()> {
        let p = finite(
            number(&probability, "probability")?,
            "probability",
            0.0,
            1.0,
        )?;
        let share = finite(number(&share, "share")?, "share", 0.0, 1.0)?;
        lever(&ctx, |h| {
            let f = h.live_facility(facility)?;
            // (A probability of 0 ends the risk: its share and duration do not matter, as
            // a share of 0 ends `disrupt`'s outages whatever their duration.)
            let steps = match p == 0.0 {
                true => crate::args::duration_steps(&h.sim.model, &duration)?.max(1),
                false => crate::args::outage_steps(&h.sim.model, &duration)?,
            };
            let risk = chokepoint_core::sim::RandomOutage {
                facility: f,
                probability: p,
                share,
                steps,
            };
            let before = h.sim.outages.iter().find(|o| o.facility == f).cloned();
            // A risk of nothing (no chance, or an outage that takes nothing) is none.
            let none = p == 0.0 || share == 0.0;
            if before.as_ref() == Some(&risk) || (before.is_none() && none) {
                return Ok(()); // As it was: nothing pulled.
            }
            h.sim.outages.retain(|o| o.facility != f);
            if !none {
                h.sim.outages.push(risk);
            }
            h.log("random_outage", format!("{facility} p={p}"));
            Ok(())
        })
    }
}

/// Said once per lever: what a payment on top of the market does in this model.
fn transfer_note(h: &mut Host, lever: &str) {
    let note = format!(
        "note: {lever}: paid as a transfer: no plant in the model runs more for what it is \
         paid over the market (mines and separators run while fed; metal, magnet and recycling \
         plants curtail on the market's margin), so it costs its payer and moves no tonne; \
         build or expand adds output"
    );
    if !h.output.contains(&note) {
        h.output.push(note);
    }
}
