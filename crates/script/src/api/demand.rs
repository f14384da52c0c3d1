//! Demand levers: shocks, growth, substitution, thrifting, recycling.

use rhai::plugin::*;

#[export_module]
pub mod demand_api {
    use crate::args::{finite, number, Num, Res};
    use crate::host::{err, lever};

    /// Multiplies a sector's demand by `factor` from now on (0.8 = a 20% drop; 1.5 = +50%).
    /// The factor is above 0 and at most 100; shocks compound, up to ×100 of the model's
    /// demand in all. (0 is refused, as no later shock could undo it: 0.001 leaves a trace
    /// that one can scale back up.)
    ///
    /// ```rhai
    /// demand_shock("ev-us", 0.8);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn demand_shock(ctx: NativeCallContext, sector: &str, factor: Num) -> Res<()> {
        let factor = finite(number(&factor, "factor")?, "factor", 0.0, 100.0)?;
        if factor == 0.0 {
            // Shocks compound, so no later one could bring demand back from nothing.
            return Err(err(format!(
                "demand_shock: a factor of 0 could never be undone (shocks multiply): a small \
                 one such as 0.001 leaves {sector} a trace that a later shock can scale back up"
            )));
        }
        lever(&ctx, |h| {
            let s = h.sector(sector)?;
            // Shocks compound: together they stay within the bound one call has.
            let combined = h.sim.demand_mult[s] * factor;
            if combined > 100.0 {
                return Err(err(format!(
                    "demand_shock: {sector}'s shocks would come to ×{} its model demand, and \
                     together they may reach ×100 at most",
                    crate::api::expect::figure(combined)
                )));
            }
            h.sim.demand_mult[s] = combined;
            h.log(
                "demand_shock",
                format!("{sector} × {}", crate::api::expect::figure(factor)),
            );
            Ok(())
        })
    }

    /// Sets a sector's annual growth rate (0.1 = 10% a year; -0.5 to 1) from now on: demand
    /// keeps the level it has reached and compounds at the new rate from today.
    ///
    /// ```rhai
    /// growth("ev-us", 0.15);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn growth(ctx: NativeCallContext, sector: &str, rate: Num) -> Res<()> {
        let rate = finite(number(&rate, "rate")?, "rate", -0.5, 1.0)?;
        lever(&ctx, |h| {
            let s = h.sector(sector)?;
            h.sim.set_growth(s, rate);
            h.log("growth", format!("{sector} grows {rate}"));
            Ok(())
        })
    }

    /// Moves `share` of a sector's demand to substitutes at once and for good (e.g.
    /// induction motors): the sector's own price-driven substitution may add to it but does
    /// not take it back. Called again, it sets a new share; 0 leaves the sector to its price
    /// response.
    ///
    /// ```rhai
    /// substitute("ev-us", 0.1);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn substitute(ctx: NativeCallContext, sector: &str, share: Num) -> Res<()> {
        let share = finite(number(&share, "share")?, "share", 0.0, 1.0)?;
        lever(&ctx, |h| {
            let s = h.sector(sector)?;
            h.sim.substituted[s] = share;
            h.sim.substituted_floor[s] = share;
            h.log("substitute", format!("{sector} {share}"));
            Ok(())
        })
    }

    /// Thrifting: recipes using `element` (e.g. Dy in magnets) use `factor` of what the
    /// model's recipes use, from now on (0 = element-free, 1 = as the model has it), its
    /// share going to the recipe's other elements. Called again, it sets a new factor: 0.5
    /// twice is 0.5. Price-driven thrifting comes on top. A pure metal (one element) keeps
    /// its element; cutting every element of a recipe to nothing is an error. Goods made
    /// before still carry the element: a control on it (ban, quota, licence) keeps reaching
    /// them until the controlling exporter's sellers hold under a tenth of the model's share
    /// (every country's sellers for a content rule, which reaches re-exports; stockpiles,
    /// whose holdings do not turn over, are not counted).
    ///
    /// ```rhai
    /// thrift("Dy", 0.5);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn thrift(ctx: NativeCallContext, element: &str, factor: Num) -> Res<()> {
        let factor = finite(number(&factor, "factor")?, "factor", 0.0, 1.0)?;
        lever(&ctx, |h| {
            let e = h.element(element)?;
            let m = std::sync::Arc::clone(&h.sim.model);
            // Thrifting shifts an element's share to the others of a recipe's composition.
            let uses = |r: &chokepoint_core::model::Recipe| {
                r.composition.get(e).is_some_and(|&x| x > 0.0)
                    && r.composition.iter().filter(|&&c| c > 0.0).count() > 1
            };
            if !m.recipes.iter().any(uses) {
                let note = format!(
                    "note: thrift: no recipe of {} mixes {element} with other elements (a pure \
                     metal keeps its one), so this moves nothing",
                    m.name
                );
                h.output.push(note);
            }
            let before = h.sim.thrift_kept(e);
            h.sim.thrift(e, factor);
            // A recipe thrifted of every element it has would make nothing at all.
            let all_cut = |r: &chokepoint_core::model::Recipe| {
                let has = |x: usize| r.composition.get(x).is_some_and(|&c| c > 0.0);
                // (A one-element recipe, a pure metal, has nothing to shift its share to:
                // thrift leaves it as it is.)
                r.composition.iter().filter(|&&c| c > 0.0).count() > 1
                    && (0..r.composition.len())
                        .filter(|&x| has(x))
                        .all(|x| h.sim.thrift_kept(x) < 1e-6)
            };
            if let Some(r) = (0..m.recipes.len()).find(|&r| all_cut(&m.recipes[r])) {
                h.sim.thrift(e, before);
                return Err(err(format!(
                    "thrift: this would leave the recipe '{}' with none of its elements: its \
                     plants would make nothing (thrift some elements, not all of them, to 0)",
                    m.recipes[r].id
                )));
            }
            h.log(
                "thrift",
                format!("{element} × {}", crate::api::expect::figure(factor)),
            );
            Ok(())
        })
    }

    /// Sets the share of a sector's use that comes back as scrap for recycling.
    ///
    /// ```rhai
    /// recycling("ev-us", 0.25);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn recycling(ctx: NativeCallContext, sector: &str, rate: Num) -> Res<()> {
        let rate = finite(number(&rate, "rate")?, "rate", 0.0, 1.0)?;
        lever(&ctx, |h| {
            let s = h.sector(sector)?;
            h.sim.set_recycle_rate(s, rate);
            h.log("recycling", format!("{sector} {rate}"));
            Ok(())
        })
    }
}
