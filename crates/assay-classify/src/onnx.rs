//! Reading an ONNX file's graph: the few fields of `onnx.proto` that a TF-IDF and
//! linear-model export uses, decoded with prost (fields not declared are skipped).

use prost::Message;

#[derive(Clone, PartialEq, Message)]
pub(crate) struct ModelProto {
    #[prost(message, optional, tag = "7")]
    pub graph: Option<GraphProto>,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct GraphProto {
    #[prost(message, repeated, tag = "1")]
    pub node: Vec<NodeProto>,
    #[prost(message, repeated, tag = "5")]
    pub initializer: Vec<TensorProto>,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct NodeProto {
    #[prost(string, repeated, tag = "1")]
    pub input: Vec<String>,
    #[prost(string, repeated, tag = "2")]
    pub output: Vec<String>,
    #[prost(string, tag = "4")]
    pub op_type: String,
    #[prost(message, repeated, tag = "5")]
    pub attribute: Vec<AttributeProto>,
    #[prost(string, tag = "7")]
    pub domain: String,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct AttributeProto {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(float, tag = "2")]
    pub f: f32,
    #[prost(int64, tag = "3")]
    pub i: i64,
    #[prost(bytes = "vec", tag = "4")]
    pub s: Vec<u8>,
    #[prost(float, repeated, tag = "7")]
    pub floats: Vec<f32>,
    #[prost(int64, repeated, tag = "8")]
    pub ints: Vec<i64>,
    #[prost(bytes = "vec", repeated, tag = "9")]
    pub strings: Vec<Vec<u8>>,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct TensorProto {
    #[prost(int64, repeated, tag = "1")]
    pub dims: Vec<i64>,
    #[prost(int32, tag = "2")]
    pub data_type: i32,
    #[prost(float, repeated, tag = "4")]
    pub float_data: Vec<f32>,
    #[prost(string, tag = "8")]
    pub name: String,
    #[prost(bytes = "vec", tag = "9")]
    pub raw_data: Vec<u8>,
}

/// ONNX's `TensorProto.DataType.FLOAT`.
const FLOAT: i32 = 1;

pub(crate) fn decode(bytes: &[u8]) -> Result<GraphProto, String> {
    let model = ModelProto::decode(bytes).map_err(|e| format!("not an ONNX model: {e}"))?;
    model
        .graph
        .ok_or_else(|| "the ONNX model has no graph".to_owned())
}

impl GraphProto {
    /// The one node of type `op_type`.
    pub(crate) fn node(&self, op_type: &str) -> Result<&NodeProto, String> {
        let mut found = self.node.iter().filter(|n| n.op_type == op_type);
        match (found.next(), found.next()) {
            (Some(node), None) => Ok(node),
            (None, _) => Err(format!("the graph has no `{op_type}` node")),
            (Some(_), Some(_)) => Err(format!("the graph has several `{op_type}` nodes")),
        }
    }

    /// The float values of initializer `name`.
    pub(crate) fn floats(&self, name: &str) -> Result<Vec<f32>, String> {
        let tensor = self
            .initializer
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| format!("the graph has no initializer `{name}`"))?;
        if tensor.data_type != FLOAT {
            return Err(format!("initializer `{name}` is not float"));
        }
        if !tensor.raw_data.is_empty() {
            if !tensor.raw_data.len().is_multiple_of(4) {
                return Err(format!("initializer `{name}` has a partial float"));
            }
            return Ok(tensor
                .raw_data
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
                .collect());
        }
        Ok(tensor.float_data.clone())
    }
}

impl NodeProto {
    pub(crate) fn attribute(&self, name: &str) -> Result<&AttributeProto, String> {
        self.attribute
            .iter()
            .find(|a| a.name == name)
            .ok_or_else(|| format!("the `{}` node has no attribute `{name}`", self.op_type))
    }

    /// A string attribute, or the empty string where it is absent.
    pub(crate) fn text(&self, name: &str) -> String {
        self.attribute(name)
            .map(|a| String::from_utf8_lossy(&a.s).into_owned())
            .unwrap_or_default()
    }
}
