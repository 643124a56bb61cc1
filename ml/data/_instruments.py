"""Instrument presets: what one contract is worth, what it costs to trade, and when it trades.

One table (:data:`INSTRUMENTS`) holds the contract specifications every
package reads: the multiplier and tick (``risk.ContractSpec`` is built from
it), the default commission (the runners' cost defaults), the currency, whole
or fractional sizes, an optional margin per contract, and the session
calendar.  A symbol, with or without a contract-month code (``WDOH25``,
``6EH4``, ``ESZ4``, ``ESZ24``), maps to its preset with
:func:`instrument_for`; an unknown symbol is an error that lists the presets
and shows how to define one, never a silent default.

Commissions are per side (each leg pays them).  Exchange fees change and
brokers differ: the defaults are typical all-in retail figures, stated in
each preset's ``fees`` note; set your own with ``Instrument(...)`` /
``with_costs`` or the runners' ``--commission`` / ``--commission-pct`` flags.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass

from ml._checks import did_you_mean
from ml.exceptions import ParameterError, UnknownInstrumentError

__all__ = ["INSTRUMENTS", "Instrument", "bars_instrument", "custom_instrument", "get_instrument", "instrument_for",
           "instruments_table", "match_instrument"]

_KINDS = ("future", "stock", "crypto")
_MONTH = r"[FGHJKMNQUVXZ]"


@dataclass(frozen=True)
class Instrument:
    """Contract specification of a tradable instrument.

    Parameters
    ----------
    name : str
        Preset name, e.g. ``"WDO"``.
    description : str
    kind : {"future", "stock", "crypto"}
    currency : str
        Currency of prices x multiplier (P&L, commissions, equity): ``"BRL"``, ``"USD"``, ``"USDT"``.
    multiplier : float
        Currency per price point per contract (WDO: R$10 per point; 6E:
        US$125,000 per 1.0, the contract being EUR 125,000).
    tick_size : float
        Minimum price increment in points.
    calendar : str
        Session calendar name (:data:`ml.data.CALENDARS`).
    lot_size, min_qty : float, default 1
        Sizes are whole multiples of ``lot_size``; smaller than ``min_qty`` is 0.
    fractional : bool, default False
        Whether sizes may be fractions of a unit (crypto).
    commission_per_contract : float, default 0
        Currency per contract (share, coin) per side.
    commission_pct : float, default 0
        Fraction of the fill notional (``price * multiplier * qty``) per side.
    margin : float, optional
        Margin per contract in ``currency``: when the equity falls below
        ``margin * contracts`` the account is blown (trading stops).  None:
        only equity <= 0 blows the account.
    symbols : str
        Regular expression (full match, upper case) of the symbols that map
        here; ``""`` for presets chosen only by name.
    fees : str
        Where the default commission comes from.
    """

    name: str
    description: str
    kind: str
    currency: str
    multiplier: float
    tick_size: float
    calendar: str
    lot_size: float = 1.0
    min_qty: float = 1.0
    fractional: bool = False
    commission_per_contract: float = 0.0
    commission_pct: float = 0.0
    margin: float | None = None
    symbols: str = ""
    fees: str = ""

    def __post_init__(self):
        if self.kind not in _KINDS:
            raise ParameterError(f"`kind` must be one of {', '.join(_KINDS)}, got {self.kind!r}.")
        for f in ("multiplier", "tick_size", "lot_size"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not (math.isfinite(v) and v > 0):
                raise ParameterError(f"instrument {self.name!r}: `{f}` must be a number > 0, got {v!r}.")
        for f in ("min_qty", "commission_per_contract", "commission_pct"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not (math.isfinite(v) and v >= 0):
                raise ParameterError(f"instrument {self.name!r}: `{f}` must be a number >= 0, got {v!r}.")
        if self.commission_pct >= 0.1:
            raise ParameterError(f"instrument {self.name!r}: `commission_pct` is a fraction of notional "
                                 f"(0.0002 means 0.02%), got {self.commission_pct!r}.")
        if self.margin is not None and (isinstance(self.margin, bool) or not isinstance(self.margin, (int, float))
                                        or not (math.isfinite(self.margin) and self.margin > 0)):
            raise ParameterError(f"instrument {self.name!r}: `margin` must be a number > 0 or None, "
                                 f"got {self.margin!r}.")
        if not isinstance(self.fractional, bool):
            raise TypeError(f"instrument {self.name!r}: `fractional` must be true or false, got {self.fractional!r}.")
        if not self.fractional:
            for f in ("lot_size", "min_qty"):
                v = getattr(self, f)
                if v != math.floor(v):
                    raise ParameterError(f"instrument {self.name!r}: `{f}` must be a whole number when "
                                         f"`fractional` is false, got {v!r}.")
        from ml.data._calendar import get_calendar

        get_calendar(self.calendar)  # a bad name fails here, with a did-you-mean

    @property
    def tick_value(self) -> float:
        """Currency value of one tick for one contract (``tick_size * multiplier``)."""
        return self.tick_size * self.multiplier

    def commission(self, qty: float, price: float) -> float:
        """Commission of one side: ``qty * commission_per_contract +
        commission_pct * |price| * multiplier * qty``."""
        return abs(qty) * self.commission_per_contract + self.commission_pct * abs(price) * self.multiplier * abs(qty)

    def round_trip_cost(self, qty: float, price: float, slippage_ticks: float = 0.0) -> float:
        """Commission of both sides plus ``slippage_ticks`` ticks against each side."""
        return 2.0 * (self.commission(qty, price) + abs(qty) * slippage_ticks * self.tick_value)

    def with_costs(self, **changes) -> "Instrument":
        """A copy with some fields changed, e.g. ``with_costs(commission_per_contract=0.5)``."""
        return dataclasses.replace(self, **changes)

    def matches(self, symbol) -> bool:
        return bool(self.symbols) and symbol is not None and \
            re.fullmatch(self.symbols, str(symbol).strip().upper()) is not None

    def summary(self) -> dict:
        """The fields as a JSON-friendly dict (for ``run.json``)."""
        out = dataclasses.asdict(self)
        out["tick_value"] = self.tick_value
        out.pop("symbols")
        return out


def _future(root, *, extra=""):
    """Symbols of a futures root: bare, with a month code and a 1-2 digit year,
    or a continuous notation (``WDOFUT``, ``WDO$``, ``WDO$N``, ``WDO@``, ``ES1!``, ``ES=F``, ``@ES``)."""
    return rf"@?{root}(?:{_MONTH}\d{{1,2}}|FUT|\$N?|@\w*|\d!|=F|\.C\.\d|{extra})?"


_B3_FUT = "B3 exchange and registration fees plus a typical broker fee for day trades"
_CME_FEES = "CME Globex exchange fee, NFA fee and a typical discount-broker commission"

#: The presets.  See each one's ``fees`` for its default commission's source.
INSTRUMENTS: dict[str, Instrument] = {i.name: i for i in (
    # --- B3 futures (R$; multiplier = R$ per point)
    Instrument("WDO", "B3 mini US dollar futures (US$10,000; price in R$ per US$1,000)", "future", "BRL",
               10.0, 0.5, "B3", commission_per_contract=1.50, symbols=_future("WDO"), fees=_B3_FUT),
    Instrument("DOL", "B3 full US dollar futures (US$50,000)", "future", "BRL",
               50.0, 0.5, "B3", commission_per_contract=7.50, symbols=_future("DOL"), fees=_B3_FUT),
    Instrument("WIN", "B3 mini Ibovespa futures (R$0.20 per index point)", "future", "BRL",
               0.2, 5.0, "B3_INDEX", commission_per_contract=0.50, symbols=_future("WIN"), fees=_B3_FUT),
    Instrument("IND", "B3 full Ibovespa futures (R$1 per index point)", "future", "BRL",
               1.0, 5.0, "B3_INDEX", commission_per_contract=2.50, symbols=_future("IND"), fees=_B3_FUT),
    # --- B3 stocks (R$ per share): round lots of 100, or the fractional market (symbol + F)
    Instrument("B3_STOCK", "B3 stock, round lots of 100 shares", "stock", "BRL",
               1.0, 0.01, "B3_EQUITIES", lot_size=100, min_qty=100, commission_pct=0.00023,
               symbols=r"[A-Z]{4}(?:3|4|5|6|11)", fees="B3 day-trade fees 0.005% trading + 0.018% "
               "settlement of the notional per side; zero brokerage"),
    Instrument("B3_STOCK_FRACTIONAL", "B3 stock, fractional market (1 share)", "stock", "BRL",
               1.0, 0.01, "B3_EQUITIES", commission_pct=0.00023,
               symbols=r"[A-Z]{4}(?:3|4|5|6|11)F", fees="as B3_STOCK"),
    # --- CME futures (US$)
    Instrument("6E", "CME Euro FX futures (EUR 125,000; price in US$ per euro)", "future", "USD",
               125_000.0, 0.00005, "CME_FX", commission_per_contract=2.50, symbols=_future("6E"),
               fees=_CME_FEES),
    Instrument("ES", "CME E-mini S&P 500 futures (US$50 per index point)", "future", "USD",
               50.0, 0.25, "CME_EQUITY", commission_per_contract=2.25, symbols=_future("ES"), fees=_CME_FEES),
    Instrument("MES", "CME Micro E-mini S&P 500 futures (US$5 per index point)", "future", "USD",
               5.0, 0.25, "CME_EQUITY", commission_per_contract=0.62, symbols=_future("MES"), fees=_CME_FEES),
    Instrument("NQ", "CME E-mini Nasdaq-100 futures (US$20 per index point)", "future", "USD",
               20.0, 0.25, "CME_EQUITY", commission_per_contract=2.25, symbols=_future("NQ"), fees=_CME_FEES),
    Instrument("CL", "NYMEX WTI crude oil futures (1,000 barrels; US$ per barrel)", "future", "USD",
               1000.0, 0.01, "CME_ENERGY", commission_per_contract=2.50, symbols=_future("CL"), fees=_CME_FEES),
    # --- US stocks (chosen by name only: a bare ticker could be anything)
    Instrument("US_STOCK", "US stock (NYSE / Nasdaq), 1 share", "stock", "USD",
               1.0, 0.01, "XNYS", commission_per_contract=0.005,
               fees="a typical per-share commission (US$0.005 per share)"),
    # --- Crypto (quote currency, e.g. USDT)
    Instrument("CRYPTO_SPOT", "crypto spot pair (price in the quote currency; sizes in the coin)", "crypto",
               "USDT", 1.0, 1e-8, "24/7", lot_size=0.001, min_qty=0.001, fractional=True,
               commission_pct=0.001,
               symbols=r"[A-Z0-9]{2,12}[-/]?(?:USDT|USDC|FDUSD|BUSD|TUSD|USD|BTC|ETH|BNB|EUR|BRL)",
               fees="Binance spot base taker fee 0.1% per side"),
    Instrument("CRYPTO_PERP", "crypto perpetual futures (linear, quote-margined)", "crypto",
               "USDT", 1.0, 1e-8, "24/7", lot_size=0.001, min_qty=0.001, fractional=True,
               commission_pct=0.0005,
               symbols=r"[A-Z0-9]{2,12}[-/]?(?:USDT|USDC|USD)?(?:\.P|[-_]?PERP|-SWAP|_PERPETUAL)|"
                       r"[A-Z0-9]{2,12}-USDT?-SWAP",
               fees="Binance USD-M futures base taker fee 0.05% per side"),
)}
#: Symbols are matched against futures first (``MESZ4`` is a future, not a B3 stock), then stocks, then crypto.
_MATCH_ORDER = sorted(INSTRUMENTS.values(), key=lambda i: _KINDS.index(i.kind))
_ALIASES = {"CRYPTO": "CRYPTO_SPOT", "SPOT": "CRYPTO_SPOT", "PERP": "CRYPTO_PERP", "STOCK": "B3_STOCK",
            "B3_STOCKS": "B3_STOCK", "6E_EURO": "6E", "EURO_FX": "6E"}

#: How a preset is defined by hand (the error for an unknown symbol shows it).
CUSTOM_EXAMPLE = ('instrument = { name = "ORCL", kind = "stock", currency = "USD", multiplier = 1, '
                  'tick_size = 0.01, calendar = "XNYS", commission_per_contract = 0.005 } in the --config '
                  'TOML file (or --instrument name=ORCL --instrument kind=stock ...; base = "WDO" starts '
                  'from a preset)')


def get_instrument(name) -> Instrument:
    """A preset by name (case-insensitive), or the :class:`Instrument` given."""
    if isinstance(name, Instrument):
        return name
    if not isinstance(name, str):
        raise TypeError(f"`contract` must be a preset name or an Instrument, got {type(name).__name__} {name!r}.")
    key = name.strip().upper()
    key = _ALIASES.get(key, key)
    if key in INSTRUMENTS:
        return INSTRUMENTS[key]
    raise UnknownInstrumentError(
        f"unknown contract {name!r}; presets: {', '.join(INSTRUMENTS)}."
        f"{did_you_mean(name, list(INSTRUMENTS) + list(_ALIASES), cutoff=0.5)} Or define one: {CUSTOM_EXAMPLE}.")


def match_instrument(symbol) -> Instrument | None:
    """The preset whose symbol pattern matches ``symbol`` (futures first, then
    stocks, then crypto), or None."""
    if symbol is None or (isinstance(symbol, float) and math.isnan(symbol)):
        return None
    s = str(symbol).strip().upper()
    if not s:
        return None
    for inst in _MATCH_ORDER:
        if inst.matches(s):
            if inst.kind == "crypto":  # money is in the pair's quote currency
                quote = _QUOTE.search(s)
                if quote and quote.group(1) != inst.currency:
                    return dataclasses.replace(inst, currency=quote.group(1))
            return inst
    return None


_QUOTE = re.compile(r"(USDT|USDC|FDUSD|BUSD|TUSD|USD|BTC|ETH|BNB|EUR|BRL)(?:\.P|[-_]?PERP|-SWAP|_PERPETUAL)?$")


def instrument_for(symbol, contract=None) -> Instrument:
    """The instrument of ``symbol``: its preset, checked against ``contract`` when given.

    Parameters
    ----------
    symbol : str or None
        The bars' symbol (a contract such as ``"WDOH25"`` maps to ``"WDO"``).
    contract : str or Instrument, optional
        The contract the caller asked for.  When the symbol maps to a
        different preset the two disagree: an error, never a silent choice.

    Raises
    ------
    UnknownInstrumentError
        No preset matches ``symbol`` and no ``contract`` is given, or ``contract``
        is not a preset name.
    ParameterError
        ``contract`` and the symbol's preset disagree.

    Examples
    --------
    >>> instrument_for("WDOH25").name, instrument_for("6EH4").multiplier, instrument_for("ESZ24").tick_value
    ('WDO', 125000.0, 12.5)
    """
    matched = match_instrument(symbol)
    if contract is None:
        if matched is None:
            raise UnknownInstrumentError(
                f"unknown symbol {symbol!r}: no instrument preset matches it (presets: "
                f"{', '.join(INSTRUMENTS)}); pass --contract PRESET (contract= in Python), or define "
                f"it in the config: {CUSTOM_EXAMPLE}.")
        return matched
    inst = get_instrument(contract)
    if matched is not None and matched.name == inst.name and isinstance(contract, str):
        return matched  # the symbol's own reading of the preset (a crypto pair's quote currency)
    if matched is not None and inst.symbols and matched.name != inst.name and \
            not _compatible(matched, inst):
        raise ParameterError(
            f"contract {inst.name!r} does not match the bars' symbol {symbol!r}, which is "
            f"{matched.name} ({matched.description}); use that preset (--contract {matched.name}, contract={matched.name!r}) or the right bars.")
    return inst


def bars_instrument(bars, contract=None) -> Instrument:
    """The instrument of ``bars``: never a silent default.

    Parameters
    ----------
    bars : DataFrame
        Bars as :func:`ml.data.load_bars` returns them: the instrument it
        recorded (a custom one included), else the ``symbol`` column, gives it.
    contract : str or Instrument, optional
        The instrument asked for, checked against every symbol of the bars (a
        preset that contradicts them raises).  A preset name gives the symbol's
        own reading of it (a crypto pair's quote currency); an Instrument is
        returned as given.

    Raises
    ------
    UnknownInstrumentError
        No contract given and the symbol maps to no preset.
    ParameterError
        No contract given and the bars carry neither a recorded instrument nor
        a symbol; or ``contract`` contradicts a symbol.
    """
    import pandas as pd

    attrs = ((getattr(bars, "attrs", {}) or {}).get("bars") or {})
    symbols = [str(x) for x in pd.unique(bars["symbol"])] if "symbol" in getattr(bars, "columns", ()) else []
    if contract is None:
        custom = attrs.get("custom_instrument")
        if custom:
            return Instrument(**{k: v for k, v in custom.items() if k != "tick_value"})
        if attrs.get("instrument"):
            name = attrs["instrument"]
            return instrument_for(symbols[0], name) if symbols else get_instrument(name)
        if not symbols:
            raise ParameterError("`contract` is required: the bars have no `symbol` column and no recorded "
                                 "instrument; pass contract='WDO' (a preset of ml.data.INSTRUMENTS) or a "
                                 "ContractSpec.")
        inst = instrument_for(symbols[0])
        for sym in symbols[1:]:
            instrument_for(sym, inst)
        return inst
    inst = get_instrument(contract)
    read = [instrument_for(sym, contract) for sym in symbols]
    return read[0] if read and isinstance(contract, str) else inst


def _compatible(matched: Instrument, asked: Instrument) -> bool:
    """A symbol may be traded as a sibling preset: a B3 stock in the fractional
    market, a crypto pair as spot or perpetual."""
    pairs = {frozenset(("B3_STOCK", "B3_STOCK_FRACTIONAL")), frozenset(("CRYPTO_SPOT", "CRYPTO_PERP"))}
    return frozenset((matched.name, asked.name)) in pairs


_FIELDS = {f.name for f in dataclasses.fields(Instrument)}
_ALIAS_FIELDS = {"commission": "commission_per_contract", "tick": "tick_size", "lot": "lot_size"}


def custom_instrument(spec: dict, *, source: str = "the instrument table") -> Instrument:
    """An :class:`Instrument` from a table (a TOML ``[instrument]`` table or
    ``--instrument KEY=VALUE`` pairs).

    ``base = "PRESET"`` starts from a preset and changes the keys given; else
    ``name``, ``kind``, ``currency``, ``multiplier``, ``tick_size`` and
    ``calendar`` are required.  ``commission`` is ``commission_per_contract``.
    """
    if not isinstance(spec, dict):
        raise ParameterError(f"{source} must be a table of KEY = VALUE, got {spec!r}.")
    fields = {}
    base = None
    for key, value in spec.items():
        k = str(key).strip().lower().replace("-", "_")
        if k == "base":
            base = get_instrument(value)
            continue
        k = _ALIAS_FIELDS.get(k, k)
        if k not in _FIELDS or k == "symbols":
            raise ParameterError(f"{source}: unknown key {key!r}; keys: base, "
                                 f"{', '.join(sorted(_FIELDS - {'symbols'}))}.{did_you_mean(k, sorted(_FIELDS))}")
        fields[k] = value
    for k in ("multiplier", "tick_size", "lot_size", "min_qty", "commission_per_contract", "commission_pct",
              "margin"):
        if k in fields and isinstance(fields[k], int) and not isinstance(fields[k], bool):
            fields[k] = float(fields[k])
    if base is not None:
        fields.setdefault("name", base.name)
        fields.setdefault("symbols", base.symbols if fields["name"] == base.name else "")
        return dataclasses.replace(base, **fields)
    missing = [k for k in ("name", "kind", "currency", "multiplier", "tick_size", "calendar") if k not in fields]
    if missing:
        raise ParameterError(f"{source}: missing {', '.join(missing)} (or give base = \"PRESET\" to start "
                             f"from a preset); e.g. {CUSTOM_EXAMPLE}.")
    fields.setdefault("description", f"custom instrument {fields['name']}")
    try:
        return Instrument(**fields)
    except TypeError as exc:
        raise ParameterError(f"{source}: {exc}") from None


def instruments_table():
    """The presets as a DataFrame (one row per preset), as the README shows them."""
    import pandas as pd

    rows = []
    for inst in INSTRUMENTS.values():
        rows.append({"preset": inst.name, "description": inst.description, "currency": inst.currency,
                     "multiplier": inst.multiplier, "tick_size": inst.tick_size, "tick_value": inst.tick_value,
                     "size": (f"fractional (lots of {inst.lot_size:g})" if inst.fractional
                              else f"whole, lots of {inst.lot_size:g}"),
                     "commission": _commission_text(inst), "calendar": inst.calendar})
    return pd.DataFrame(rows).set_index("preset")


def _commission_text(inst: Instrument) -> str:
    parts = []
    if inst.commission_per_contract:
        parts.append(f"{inst.commission_per_contract:g} {inst.currency} per "
                     f"{'share' if inst.kind == 'stock' else 'contract'} per side")
    if inst.commission_pct:
        parts.append(f"{inst.commission_pct * 100:g}% of notional per side")
    return " + ".join(parts) or "none"
