//! Gathers over tuples of differently typed children, for `gather!` and `try_gather!`.

use std::rc::Rc;

use super::{Child, Children, Gather, GatherOutput, GatherState, Kind, Node, Slot};
use crate::error::TaskError;
use crate::runtime::Listener;

/// Children that can form a tuple gather.
#[doc(hidden)]
pub trait TupleChildren {
    type Values;
    type Error;
    fn start(self) -> Gather<Self::Values, Self::Error>;
}

/// Starts a tuple gather; what `gather!` and `try_gather!` expand to.
#[doc(hidden)]
pub fn gather_tuple<C: TupleChildren>(children: C) -> Gather<C::Values, C::Error> {
    children.start()
}

macro_rules! tuples {
    ($($X:ident $i:tt),+) => {
        impl<E: 'static, $($X: Child<Error = E>),+> TupleChildren for ($($X,)+) {
            type Values = ($($X::Output,)+);
            type Error = E;
            fn start(self) -> Gather<Self::Values, E> {
                GatherState::start(($(Slot::Pending(self.$i),)+))
            }
        }

        impl<E: 'static, $($X: Child<Error = E>),+> Children for ($(Slot<$X>,)+) {
            type Values = ($($X::Output,)+);
            type Slots = ($(Result<$X::Output, TaskError<E>>,)+);
            type Error = E;

            fn len(&self) -> usize {
                [$($i),+].len()
            }
            fn attach(&mut self, listener: &Rc<dyn Listener>) {
                $(self.$i.attach(listener.clone(), $i);)+
            }
            fn complete(&mut self, index: usize) -> Kind {
                match index {
                    $($i => self.$i.complete(),)+
                    _ => unreachable!("no child {index}"),
                }
            }
            fn cancel_all(&mut self, found: &mut Vec<Rc<dyn Node>>) -> bool {
                let mut accepted = false;
                $(accepted |= self.$i.cancel(found);)+
                accepted
            }
            fn take_error(&mut self, index: usize) -> TaskError<E> {
                let failure = match index {
                    $($i => self.$i.take().err(),)+
                    _ => unreachable!("no child {index}"),
                };
                failure.expect("the recorded failure is an error")
            }
            fn take_values(&mut self) -> Self::Values {
                ($(self.$i.take_value(),)+)
            }
            fn take_slots(&mut self) -> Self::Slots {
                ($(self.$i.take(),)+)
            }
        }

        impl<E, $($X),+> GatherOutput<E> for ($($X,)+) {
            type Slots = ($(Result<$X, TaskError<E>>,)+);
        }
    };
}

tuples!(A 0);
tuples!(A 0, B 1);
tuples!(A 0, B 1, C 2);
tuples!(A 0, B 1, C 2, D 3);
tuples!(A 0, B 1, C 2, D 3, F 4);
tuples!(A 0, B 1, C 2, D 3, F 4, G 5);
tuples!(A 0, B 1, C 2, D 3, F 4, G 5, H 6);
tuples!(A 0, B 1, C 2, D 3, F 4, G 5, H 6, I 7);
tuples!(A 0, B 1, C 2, D 3, F 4, G 5, H 6, I 7, J 8);
tuples!(A 0, B 1, C 2, D 3, F 4, G 5, H 6, I 7, J 8, K 9);
tuples!(A 0, B 1, C 2, D 3, F 4, G 5, H 6, I 7, J 8, K 9, L 10);
tuples!(A 0, B 1, C 2, D 3, F 4, G 5, H 6, I 7, J 8, K 9, L 10, M 11);
