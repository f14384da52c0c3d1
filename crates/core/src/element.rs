//! The built-in periodic table. Model files name elements by symbol; the table validates the
//! symbol and supplies the name, atomic number and, for rare earths, the group that China's
//! export controls use (light / medium / heavy).

use std::fmt;

/// The group a rare earth belongs to in China's classification, used by the 2025 controls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReGroup {
    Light,
    Medium,
    Heavy,
}

impl fmt::Display for ReGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ReGroup::Light => "light",
            ReGroup::Medium => "medium",
            ReGroup::Heavy => "heavy",
        })
    }
}

/// One element of the periodic table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ElementInfo {
    pub symbol: &'static str,
    pub name: &'static str,
    pub number: u8,
}

impl ElementInfo {
    /// The rare-earth group, or `None` for elements that are not rare earths.
    ///
    /// Lanthanum to neodymium (and promethium) are light; samarium to gadolinium medium;
    /// terbium to lutetium and yttrium heavy. Scandium is a rare earth that China's lists
    /// treat with the medium/heavy set; it is grouped heavy and flagged by [`Self::is_sc_or_y`].
    pub fn re_group(&self) -> Option<ReGroup> {
        match self.number {
            57..=61 => Some(ReGroup::Light),
            62..=64 => Some(ReGroup::Medium),
            65..=71 | 39 | 21 => Some(ReGroup::Heavy),
            _ => None,
        }
    }

    pub fn is_rare_earth(&self) -> bool {
        self.re_group().is_some()
    }

    /// Scandium and yttrium are rare earths by convention, not lanthanides.
    pub fn is_sc_or_y(&self) -> bool {
        matches!(self.number, 21 | 39)
    }
}

const TABLE: &str = "H Hydrogen,He Helium,Li Lithium,Be Beryllium,B Boron,C Carbon,N Nitrogen,\
O Oxygen,F Fluorine,Ne Neon,Na Sodium,Mg Magnesium,Al Aluminium,Si Silicon,P Phosphorus,\
S Sulfur,Cl Chlorine,Ar Argon,K Potassium,Ca Calcium,Sc Scandium,Ti Titanium,V Vanadium,\
Cr Chromium,Mn Manganese,Fe Iron,Co Cobalt,Ni Nickel,Cu Copper,Zn Zinc,Ga Gallium,\
Ge Germanium,As Arsenic,Se Selenium,Br Bromine,Kr Krypton,Rb Rubidium,Sr Strontium,\
Y Yttrium,Zr Zirconium,Nb Niobium,Mo Molybdenum,Tc Technetium,Ru Ruthenium,Rh Rhodium,\
Pd Palladium,Ag Silver,Cd Cadmium,In Indium,Sn Tin,Sb Antimony,Te Tellurium,I Iodine,\
Xe Xenon,Cs Caesium,Ba Barium,La Lanthanum,Ce Cerium,Pr Praseodymium,Nd Neodymium,\
Pm Promethium,Sm Samarium,Eu Europium,Gd Gadolinium,Tb Terbium,Dy Dysprosium,Ho Holmium,\
Er Erbium,Tm Thulium,Yb Ytterbium,Lu Lutetium,Hf Hafnium,Ta Tantalum,W Tungsten,\
Re Rhenium,Os Osmium,Ir Iridium,Pt Platinum,Au Gold,Hg Mercury,Tl Thallium,Pb Lead,\
Bi Bismuth,Po Polonium,At Astatine,Rn Radon,Fr Francium,Ra Radium,Ac Actinium,Th Thorium,\
Pa Protactinium,U Uranium,Np Neptunium,Pu Plutonium,Am Americium,Cm Curium,Bk Berkelium,\
Cf Californium,Es Einsteinium,Fm Fermium,Md Mendelevium,No Nobelium,Lr Lawrencium,\
Rf Rutherfordium,Db Dubnium,Sg Seaborgium,Bh Bohrium,Hs Hassium,Mt Meitnerium,\
Ds Darmstadtium,Rg Roentgenium,Cn Copernicium,Nh Nihonium,Fl Flerovium,Mc Moscovium,\
Lv Livermorium,Ts Tennessine,Og Oganesson";

/// Looks up an element by its symbol (case-sensitive, as chemistry writes it).
pub fn lookup(symbol: &str) -> Option<ElementInfo> {
    TABLE.split(',').enumerate().find_map(|(i, entry)| {
        let (sym, name) = entry.split_once(' ')?;
        (sym == symbol).then_some(ElementInfo {
            symbol: sym,
            name,
            number: (i + 1) as u8,
        })
    })
}

/// Every element symbol, in atomic-number order.
pub fn symbols() -> impl Iterator<Item = &'static str> {
    TABLE
        .split(',')
        .filter_map(|entry| entry.split_once(' ').map(|(s, _)| s))
}

/// The 17 rare earths, in atomic-number order.
pub fn rare_earths() -> Vec<ElementInfo> {
    symbols()
        .filter_map(lookup)
        .filter(ElementInfo::is_rare_earth)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_118_elements_in_order() {
        assert_eq!(symbols().count(), 118);
        assert_eq!(lookup("H").unwrap().number, 1);
        assert_eq!(lookup("Dy").unwrap().number, 66);
        assert_eq!(lookup("Og").unwrap().number, 118);
        assert_eq!(lookup("Dy").unwrap().name, "Dysprosium");
    }

    #[test]
    fn lookup_is_case_sensitive_and_rejects_unknowns() {
        assert!(lookup("dy").is_none());
        assert!(lookup("Dyy").is_none());
        assert!(lookup("").is_none());
    }

    #[test]
    fn seventeen_rare_earths_with_china_groups() {
        let re = rare_earths();
        assert_eq!(re.len(), 17);
        let group = |s| lookup(s).unwrap().re_group();
        assert_eq!(group("Nd"), Some(ReGroup::Light));
        assert_eq!(group("Sm"), Some(ReGroup::Medium));
        assert_eq!(group("Gd"), Some(ReGroup::Medium));
        assert_eq!(group("Dy"), Some(ReGroup::Heavy));
        assert_eq!(group("Y"), Some(ReGroup::Heavy));
        assert_eq!(group("Ga"), None);
        assert!(lookup("Sc").unwrap().is_sc_or_y());
        assert!(!lookup("Lu").unwrap().is_sc_or_y());
    }
}
