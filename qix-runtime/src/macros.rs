//! The macros generated code is written in: a generated struct or enum is its list of
//! fields or values, and everything else (the lossless serde impls, the enum's wire forms)
//! is expanded from here.
//!
//! Why macros and not the expanded code: the generated crate is what users compile, and
//! written out in full its types were 39,000 lines; the logic is the same for every type,
//! so it lives once, here, and [`crate::de`]/[`crate::ser`] hold what does not need to be
//! expanded at all. Not part of the public API: only the generator writes these.

/// A generated struct (`pub struct`: decoded and encoded, with a JSON schema behind the
/// generated crate's `schemars` feature; `pub(crate) struct`: a raw method result, only
/// decoded). `#[wire("Name")]` first gives the spec's name; each field starts with its wire
/// name, and lists with the bit that remembers whether they were on the wire
/// (`#[wire("qList", 3)]`). Written as a plain item so that it formats as one.
#[doc(hidden)]
#[macro_export]
macro_rules! __struct {
    (
        #[wire($spec:literal)]
        $(#[$attr:meta])*
        pub struct $name:ident {
            $(
                #[wire($wire:literal $(, $bit:literal)?)]
                $(#[$fattr:meta])*
                pub $field:ident: $ty:ty,
            )*
        }
    ) => {
        $(#[$attr])*
        #[derive(Clone, Default, PartialEq)]
        #[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
        pub struct $name {
            $(
                $(#[$fattr])*
                #[doc = ""]
                #[doc = concat!(" Wire name: `", $wire, "`.")]
                #[cfg_attr(feature = "schemars", schemars(rename = $wire))]
                pub $field: $ty,
            )*
            /// Properties this version of the API does not know (custom properties, fields
            /// of newer engines), kept and written back unchanged.
            #[cfg_attr(feature = "schemars", schemars(skip))]
            pub extra: $crate::Extra,
        }

        $crate::__struct!(@decode $name $spec { $($field = $wire $(, $bit)?;)* });

        impl $crate::__private::serde::Serialize for $name {
            fn serialize<S: $crate::__private::serde::Serializer>(
                &self,
                s: S,
            ) -> ::std::result::Result<S::Ok, S::Error> {
                use $crate::__private::serde::ser::SerializeMap as _;
                use $crate::__private::ser::EncodeField as _;
                let mut m = s.serialize_map(::std::option::Option::None)?;
                $(
                    self.$field.encode_field(&mut m, $wire, false $(|| self.extra.has_list($bit))?)?;
                )*
                self.extra.serialize_entries(&mut m)?;
                m.end()
            }
        }

        impl $crate::__private::de::Plain for $name {}
    };
    (
        #[wire($spec:literal)]
        $(#[$attr:meta])*
        pub(crate) struct $name:ident {
            $(
                #[wire($wire:literal $(, $bit:literal)?)]
                $(#[$fattr:meta])*
                pub(crate) $field:ident: $ty:ty,
            )*
        }
    ) => {
        $(#[$attr])*
        #[derive(Clone, Default, PartialEq)]
        pub(crate) struct $name {
            $(
                $(#[$fattr])*
                pub(crate) $field: $ty,
            )*
            pub(crate) extra: $crate::Extra,
        }

        $crate::__struct!(@decode $name $spec { $($field = $wire $(, $bit)?;)* });
    };
    (@decode $name:ident $spec:literal { $($field:ident = $wire:literal $(, $bit:literal)?;)* }) => {
        impl<'de> $crate::__private::serde::Deserialize<'de> for $name {
            fn deserialize<D: $crate::__private::serde::Deserializer<'de>>(
                d: D,
            ) -> ::std::result::Result<Self, D::Error> {
                let mut out = <$name as ::std::default::Default>::default();
                $crate::__private::de::decode_struct(d, &mut out)?;
                ::std::result::Result::Ok(out)
            }
        }

        impl $crate::__private::de::DecodeInPlace for $name {
            #[inline]
            fn decode_in_place<'de, D: $crate::__private::serde::Deserializer<'de>>(
                d: D,
                place: &mut Self,
            ) -> ::std::result::Result<(), D::Error> {
                $crate::__private::de::decode_struct(d, place)
            }
            #[inline]
            fn next_after(_prev: ::std::option::Option<&Self>) -> Self {
                <Self as ::std::default::Default>::default()
            }
        }

        impl $crate::__private::de::Fields for $name {
            const NAME: &'static str = $spec;

            #[inline]
            fn decode_entry<'de, A: $crate::__private::serde::de::MapAccess<'de>>(
                &mut self,
                key: $crate::__private::de::Key<'de>,
                map: &mut A,
            ) -> ::std::result::Result<(), A::Error> {
                match key.as_str() {
                    $(
                        $wire => {
                            $crate::__private::de::field(&mut self.$field, map, $wire)?;
                            $(self.extra.mark_list($bit);)?
                        }
                    )*
                    _ => self.extra.insert_next(key, map)?,
                }
                ::std::result::Result::Ok(())
            }
        }
    };
}

/// A generated enum: `#[wire("Name")]` first gives the spec's name, each value its wire
/// forms (`#[wire("title")]` or `#[wire("title", "LONG_NAME")]`); `Unknown(String)` keeps
/// any other.
#[doc(hidden)]
#[macro_export]
macro_rules! __enum {
    (
        #[wire($spec:literal)]
        $(#[$attr:meta])*
        pub enum $name:ident {
            $(
                #[wire($title:literal $(, $long:literal)?)]
                $(#[$vattr:meta])*
                $variant:ident,
            )*
        }
    ) => {
        $(#[$attr])*
        ///
        /// On the wire a value is its short form (`as_str`); decoding also accepts the long
        /// name. A value this version does not know is kept in `Unknown`.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $(
                #[doc = concat!("`", $title, "`" $(, " (`", $long, "`)")?)]
                $(#[$vattr])*
                $variant,
            )*
            /// A value this version of the API does not know, as sent by the engine.
            Unknown(::std::string::String),
        }

        impl $name {
            /// Every value this version knows.
            pub const KNOWN: &'static [Self] = &[$(Self::$variant),*];

            /// The wire form (the spec's `title`).
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $title,)*
                    Self::Unknown(s) => s,
                }
            }

            /// The engine's long name for the value, when the spec gives one.
            pub fn long_name(&self) -> ::std::option::Option<&'static str> {
                match self {
                    $(Self::$variant => $crate::__long_name!($($long)?),)*
                    Self::Unknown(_) => ::std::option::Option::None,
                }
            }

            /// Decodes a wire value (short form or long name); never fails.
            pub fn from_wire(s: &str) -> Self {
                // A long name may equal the title: that pattern is unreachable, and harmless.
                #[allow(unreachable_patterns)]
                match s {
                    $($title $(| $long)? => Self::$variant,)*
                    other => Self::Unknown(other.to_owned()),
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = ::std::convert::Infallible;
            fn from_str(s: &str) -> ::std::result::Result<Self, Self::Err> {
                ::std::result::Result::Ok(Self::from_wire(s))
            }
        }

        impl<'de> $crate::__private::serde::Deserialize<'de> for $name {
            #[inline]
            fn deserialize<D: $crate::__private::serde::Deserializer<'de>>(
                d: D,
            ) -> ::std::result::Result<Self, D::Error> {
                $crate::__private::de::enum_str(d, $spec, Self::from_wire)
            }
        }

        impl $crate::__private::serde::Serialize for $name {
            fn serialize<S: $crate::__private::serde::Serializer>(
                &self,
                s: S,
            ) -> ::std::result::Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl $crate::__private::de::Plain for $name {}

        impl $crate::__private::de::DecodeInPlace for $name {
            #[inline]
            fn decode_in_place<'de, D: $crate::__private::serde::Deserializer<'de>>(
                d: D,
                place: &mut Self,
            ) -> ::std::result::Result<(), D::Error> {
                *place = $crate::__private::de::enum_str(d, $spec, Self::from_wire)?;
                ::std::result::Result::Ok(())
            }
            #[inline]
            fn next_after(_prev: ::std::option::Option<&Self>) -> Self {
                // A placeholder the decoding replaces (enums have no natural default).
                Self::Unknown(::std::string::String::new())
            }
        }

        #[cfg(feature = "schemars")]
        impl schemars::JsonSchema for $name {
            fn schema_name() -> ::std::borrow::Cow<'static, str> {
                $spec.into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                let values: &[&str] = &[$($title),*];
                schemars::json_schema!({ "type": "string", "enum": values })
            }
        }
    };
}

/// What every generated request has: `METHOD`, `SINCE` and the call options' builders.
/// `__request!(Request, "Method")`, or with the oldest engine version that has the method:
/// `__request!(Request, "Method", "12.1306.0")`.
#[doc(hidden)]
#[macro_export]
macro_rules! __request {
    ($req:ident, $method:literal) => {
        $crate::__request!(@impl $req, $method, ::std::option::Option::None);
    };
    ($req:ident, $method:literal, $since:literal) => {
        $crate::__request!(@impl $req, $method, ::std::option::Option::Some($since));
    };
    (@impl $req:ident, $method:literal, $since:expr) => {
        impl $req {
            /// The engine method this request calls.
            pub const METHOD: &'static str = $method;
            /// The oldest engine version known to have this method (when the crate was
            /// generated with a spec history): `qix_runtime::supports(version, SINCE)` tells
            /// whether an engine at `Global::engine_version` has it.
            pub const SINCE: ::std::option::Option<&'static str> = $since;

            /// Fails the call with a timeout error if no answer arrives in time (the engine
            /// is asked to cancel it).
            pub fn timeout(mut self, timeout: ::std::time::Duration) -> Self {
                self.call_options.timeout = ::std::option::Option::Some(timeout);
                self
            }

            /// How often to send the call again when the engine aborts it (error 15);
            /// default: the session's retry policy for reads (methods safe to repeat), none
            /// for other methods. Never for a call the user asked the engine to abort.
            pub fn retries(mut self, retries: u32) -> Self {
                self.call_options.retries = ::std::option::Option::Some(retries);
                self
            }
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __long_name {
    () => {
        ::std::option::Option::None
    };
    ($long:literal) => {
        ::std::option::Option::Some($long)
    };
}
