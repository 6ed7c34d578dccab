//! Declarative definitions of objects and messages: one line per field (Rust name, `req` or
//! `opt`, type, wire name) gives the struct, its lenient reader and its exact writer, so the
//! field lists read like the spec's tables and cannot drift between reading and writing.

/// The Rust type of a field: `req T` is `T`, `opt T` is `Option<T>`.
macro_rules! field_type {
    (req $t:ty) => { $t };
    (opt $t:ty) => { Option<$t> };
}

/// An object of the model (no header): struct + `Wire`.
macro_rules! bi_object {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $(#[$fmeta:meta])* $field:ident : $kind:ident $ty:ty = $wire:literal ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: field_type!($kind $ty), )*
            /// Fields this model does not know, kept (sorted by name) and passed on unchanged.
            pub extra: serde_json::Map<String, serde_json::Value>,
        }

        impl $crate::wire::Wire for $name {
            fn from_wire(
                value: serde_json::Value,
                at: &$crate::wire::Path<'_>,
            ) -> Result<Self, $crate::error::DecodeError> {
                let mut fields = $crate::wire::Fields::object(value, at)?;
                Ok(Self {
                    $( $field: fields.$kind::<$ty>($wire)?, )*
                    extra: fields.rest(),
                })
            }

            fn to_wire(&self, style: &$crate::wire::Style<'_>) -> serde_json::Value {
                let mut out = $crate::wire::Out::new(*style);
                $( out.$kind($wire, &self.$field); )*
                out.extra(&self.extra);
                serde_json::Value::Object(out.into_map())
            }
        }
    };
}

/// A message: a header, typed fields and the unknown fields.
macro_rules! bi_message {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $(#[$fmeta:meta])* $field:ident : $kind:ident $ty:ty = $wire:literal ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $name {
            /// The common header.
            pub header: $crate::header::Header,
            $( $(#[$fmeta])* pub $field: field_type!($kind $ty), )*
            /// Fields this model does not know, kept (sorted by name) and passed on unchanged.
            pub extra: serde_json::Map<String, serde_json::Value>,
        }

        impl $name {
            /// Reads the body; the header fields have already been taken out of `fields`.
            pub(crate) fn read(
                header: $crate::header::Header,
                mut fields: $crate::wire::Fields<'_>,
            ) -> Result<Self, $crate::error::DecodeError> {
                Ok(Self {
                    header,
                    $( $field: fields.$kind::<$ty>($wire)?, )*
                    extra: fields.rest(),
                })
            }

            /// Writes header, fields, then the kept unknown fields.
            pub(crate) fn write(&self, out: &mut $crate::wire::Out<'_>) {
                self.header.write(out);
                $( out.$kind($wire, &self.$field); )*
                out.extra(&self.extra);
            }
        }
    };
}
