package e2e
{
    /** "addressbook.Email" of examples/addressbook. */
    public class AbEmail
    {
        public var sa_key:Array;
        public var sa_lazy:Array;
        public var id:Object;
        public var user_id:Object;
        public var label:String;
        public var email:String;
        public var user:AbUser;
    }
}
